package bbolt

import (
	"bytes"

	"go.etcd.io/bbolt/errors"
	"go.etcd.io/bbolt/internal/common"
)

// Update sets the value of the key the cursor is at, as Bucket.Put of
// that key would, without searching the tree for the key again: a walk
// that rewrites every value of a bucket costs a step per key instead of a
// search from the root (Sealpost patch, see SEALPOST-PATCH.md).
//
// Like Delete, Update acts on the key the cursor is at, and leaves the
// cursor there: Next and Prev go on from it. (After Next or Prev returned
// nil, that is still the last or first key.) As after any change, they may show the value of a key
// they pass as it was before this transaction changed it: Seek to read a
// value back.
//
// The value must remain valid for the life of the transaction. Update
// fails if the transaction is closed or not writable, if the value is
// too large, if the cursor is not at a key, or if the key is a bucket.
func (c *Cursor) Update(value []byte) error {
	if c.bucket.tx.db == nil {
		return errors.ErrTxClosed
	} else if !c.bucket.Writable() {
		return errors.ErrTxNotWritable
	} else if int64(len(value)) > MaxValueSize {
		return errors.ErrValueTooLarge
	}
	if len(c.stack) == 0 {
		return errors.ErrKeyRequired
	}
	key, _, flags := c.keyValue()
	if key == nil {
		return errors.ErrKeyRequired
	}
	if (flags & common.BucketLeafFlag) != 0 {
		return errors.ErrIncompatibleValue
	}
	ref := &c.stack[len(c.stack)-1]
	n := ref.node
	if n == nil {
		// The cursor read the leaf from its page. The transaction's node
		// of that page, if it has one, is what a Put would change; the
		// bucket keeps each node it made (linked to its parent) until
		// the commit.
		if n = c.bucket.nodes[ref.page.Id()]; n == nil {
			n = c.node()
		}
	}
	if i := ref.index; i < len(n.inodes) && bytes.Equal(n.inodes[i].Key(), key) {
		n.inodes[i].SetValue(value)
		return nil
	}
	// The node gained or lost keys since the cursor read the page.
	n.put(key, key, value, 0, 0)
	return nil
}
