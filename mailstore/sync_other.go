//go:build !unix

package mailstore

func syncAll() {}
