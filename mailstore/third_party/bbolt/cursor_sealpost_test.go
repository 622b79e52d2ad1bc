package bbolt_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/bbolt/errors"
	"go.etcd.io/bbolt/internal/btesting"
)

// Tests of Cursor.Update, the Sealpost patch (SEALPOST-PATCH.md). The
// databases are checked for consistency when each test ends.

func sealpostKey(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }

func sealpostValue(i, round int) []byte {
	// Sizes vary with the round so that leaves shrink and grow (and split
	// at the commit) as values are rewritten.
	return bytes.Repeat([]byte{byte(i), byte(round)}, 1+(i*7+round*13)%120)
}

// fillSealpost puts n keys into bucket "b", in one transaction.
func fillSealpost(t *testing.T, db *btesting.DB, n int) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			v := sealpostValue(i, 0)
			want[string(sealpostKey(i))] = v
			if err := b.Put(sealpostKey(i), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// checkSealpost compares bucket "b" with want, through a cursor and Get.
func checkSealpost(t *testing.T, db *btesting.DB, want map[string][]byte) {
	t.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		n := 0
		for k, v := b.Cursor().First(); k != nil; k, v = b.Cursor().Seek(append(bytes.Clone(k), 0)) {
			if w, ok := want[string(k)]; !ok || !bytes.Equal(v, w) {
				return fmt.Errorf("key %x: value %x, want %x (present %v)", k, v, w, ok)
			}
			if !bytes.Equal(b.Get(k), v) {
				return fmt.Errorf("key %x: Get differs from the cursor", k)
			}
			n++
		}
		if n != len(want) {
			return fmt.Errorf("%d keys, want %d", n, len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A walk over every key of a multi-level bucket that rewrites each value
// sees every key once, in order, and commits what Put would have.
func TestCursorUpdate_Walk(t *testing.T) {
	for _, n := range []int{1, 10, 3000} { // inline bucket, one leaf, several levels
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			db := btesting.MustCreateDB(t)
			want := fillSealpost(t, db, n)
			for round := 1; round <= 3; round++ {
				err := db.Update(func(tx *bolt.Tx) error {
					c := tx.Bucket([]byte("b")).Cursor()
					i := 0
					for k, _ := c.First(); k != nil; k, _ = c.Next() {
						if !bytes.Equal(k, sealpostKey(i)) {
							return fmt.Errorf("round %d: key %x at step %d", round, k, i)
						}
						v := sealpostValue(i, round)
						if err := c.Update(v); err != nil {
							return err
						}
						want[string(k)] = v
						i++
					}
					if i != n {
						return fmt.Errorf("round %d: walked %d keys of %d", round, i, n)
					}
					// Read back after repositioning, in the same transaction.
					b := tx.Bucket([]byte("b"))
					for j := 0; j < n; j++ {
						if !bytes.Equal(b.Get(sealpostKey(j)), sealpostValue(j, round)) {
							return fmt.Errorf("round %d: key %d not updated before the commit", round, j)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				checkSealpost(t, db, want)
			}
			db.MustClose()
			db.MustReopen()
			checkSealpost(t, db, want)
		})
	}
}

// Update mixed with Seek in any order, Put of new keys, Delete and Update
// of the same key twice matches a model of the bucket.
func TestCursorUpdate_Mixed(t *testing.T) {
	db := btesting.MustCreateDB(t)
	const n = 2000
	want := fillSealpost(t, db, n)
	rng := rand.New(rand.NewSource(1))
	for round := 1; round <= 5; round++ {
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("b"))
			c := b.Cursor()
			for step := 0; step < 3000; step++ {
				i := rng.Intn(n + n/4) // some keys are not there
				k := sealpostKey(i)
				switch rng.Intn(6) {
				case 0: // Put, maybe a new key, into a leaf the cursor may be on
					v := sealpostValue(i, round*7+step)
					if err := b.Put(k, v); err != nil {
						return err
					}
					want[string(k)] = v
				case 1:
					if err := b.Delete(k); err != nil {
						return err
					}
					delete(want, string(k))
				default: // Seek, then Update there and at the next keys
					ck, _ := c.Seek(k)
					for j := 0; j < 3 && ck != nil; j++ {
						v := sealpostValue(int(binary.BigEndian.Uint32(ck)), round*11+step+j)
						if err := c.Update(v); err != nil {
							return err
						}
						want[string(ck)] = v
						ck, _ = c.Next()
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkSealpost(t, db, want)
	}
}

// A rolled back Update changes nothing.
func TestCursorUpdate_Rollback(t *testing.T) {
	db := btesting.MustCreateDB(t)
	want := fillSealpost(t, db, 500)
	boom := fmt.Errorf("roll back")
	err := db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if err := c.Update([]byte("x")); err != nil {
				return err
			}
		}
		return boom
	})
	if err != boom {
		t.Fatal(err)
	}
	checkSealpost(t, db, want)
}

func TestCursorUpdate_Errors(t *testing.T) {
	db := btesting.MustCreateDB(t)
	fillSealpost(t, db, 100)
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.Bucket([]byte("b")).CreateBucket([]byte("sub"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err := db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		if err := c.Update([]byte("v")); err != errors.ErrKeyRequired {
			t.Errorf("unpositioned cursor: %v", err)
		}
		e, err := tx.CreateBucket([]byte("empty"))
		if err != nil {
			return err
		}
		ec := e.Cursor()
		if k, _ := ec.First(); k != nil {
			t.Fatalf("First of an empty bucket: %x", k)
		}
		if err := ec.Update([]byte("v")); err != errors.ErrKeyRequired {
			t.Errorf("cursor in an empty bucket: %v", err)
		}
		if k, _ := c.Seek([]byte("sub")); string(k) != "sub" {
			t.Fatalf("Seek sub: %q", k)
		}
		if err := c.Update([]byte("v")); err != errors.ErrIncompatibleValue {
			t.Errorf("update of a bucket: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		c.First()
		if err := c.Update([]byte("v")); err != errors.ErrTxNotWritable {
			t.Errorf("read-only transaction: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	c := tx.Bucket([]byte("b")).Cursor()
	c.First()
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := c.Update([]byte("v")); err != errors.ErrTxClosed {
		t.Errorf("closed transaction: %v", err)
	}
}

// The cursor read its leaf from the page; then a Put or Delete of the key
// before it changed that leaf's node, so the cursor's index no longer
// names its key there. Update still changes the key the cursor is at.
func TestCursorUpdate_LeafChangedUnderCursor(t *testing.T) {
	for _, put := range []bool{true, false} {
		t.Run(fmt.Sprintf("put=%v", put), func(t *testing.T) {
			db := btesting.MustCreateDB(t)
			want := fillSealpost(t, db, 1000)
			if put { // make room: every odd key goes
				if err := db.Update(func(tx *bolt.Tx) error {
					for i := 1; i < 1000; i += 2 {
						if err := tx.Bucket([]byte("b")).Delete(sealpostKey(i)); err != nil {
							return err
						}
						delete(want, string(sealpostKey(i)))
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			for _, i := range []int{2, 500, 998} {
				err := db.Update(func(tx *bolt.Tx) error {
					b := tx.Bucket([]byte("b"))
					c := b.Cursor()
					if k, _ := c.Seek(sealpostKey(i)); !bytes.Equal(k, sealpostKey(i)) {
						return fmt.Errorf("Seek %d: %x", i, k)
					}
					before := sealpostKey(i - 1)
					if put {
						want[string(before)] = []byte("new")
						if err := b.Put(before, []byte("new")); err != nil {
							return err
						}
					} else {
						delete(want, string(before))
						if err := b.Delete(before); err != nil {
							return err
						}
					}
					want[string(sealpostKey(i))] = []byte("updated")
					return c.Update([]byte("updated"))
				})
				if err != nil {
					t.Fatal(err)
				}
				checkSealpost(t, db, want)
			}
		})
	}
}
