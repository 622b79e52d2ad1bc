package msgmeta

import "errors"

// ErrCorrupt is returned (wrapped) by DecodeEnvelope and DecodePart when the
// input is truncated, has trailing bytes, or is otherwise not something
// EncodeEnvelope or EncodePart produced.
var ErrCorrupt = errors.New("msgmeta: corrupt encoding")

// ErrVersion is returned (wrapped) by the decoders for an encoding whose
// format version this code does not know.
var ErrVersion = errors.New("msgmeta: unknown encoding version")
