package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// protoReader walks the fields of one protobuf message. It knows the wire
// format only; the callers know the schema.
type protoReader struct {
	buf []byte
	pos int
}

// protoField is one decoded field: for varint fields num holds the value,
// for fixed32 fields bits32, for length-delimited fields data.
type protoField struct {
	number int
	wire   int
	num    uint64
	bits32 uint32
	data   []byte
}

var errTruncated = errors.New("truncated protobuf")

func (r *protoReader) varint() (uint64, error) {
	v, n := binary.Uvarint(r.buf[r.pos:])
	if n <= 0 {
		if n == 0 {
			return 0, errTruncated
		}
		return 0, errors.New("varint overflows 64 bits")
	}
	r.pos += n
	return v, nil
}

// next returns the next field; ok is false at the end of the message.
func (r *protoReader) next() (f protoField, ok bool, err error) {
	if r.pos >= len(r.buf) {
		return f, false, nil
	}
	key, err := r.varint()
	if err != nil {
		return f, false, fmt.Errorf("field key at byte %d: %w", r.pos, err)
	}
	f.number, f.wire = int(key>>3), int(key&7)
	if f.number == 0 {
		return f, false, fmt.Errorf("field number 0 at byte %d", r.pos)
	}
	switch f.wire {
	case 0:
		f.num, err = r.varint()
	case 1:
		if len(r.buf)-r.pos < 8 {
			return f, false, errTruncated
		}
		f.num = binary.LittleEndian.Uint64(r.buf[r.pos:])
		r.pos += 8
	case 2:
		var n uint64
		n, err = r.varint()
		if err == nil && n > uint64(len(r.buf)-r.pos) {
			err = errTruncated
		}
		if err == nil {
			f.data = r.buf[r.pos : r.pos+int(n)]
			r.pos += int(n)
		}
	case 5:
		if len(r.buf)-r.pos < 4 {
			return f, false, errTruncated
		}
		f.bits32 = binary.LittleEndian.Uint32(r.buf[r.pos:])
		r.pos += 4
	default:
		return f, false, fmt.Errorf("field %d: unsupported wire type %d", f.number, f.wire)
	}
	if err != nil {
		return f, false, fmt.Errorf("field %d: %w", f.number, err)
	}
	return f, true, nil
}

// spModelProto is the part of SentencePiece's ModelProto that encoding and
// decoding need.
type spModelProto struct {
	pieces []spPiece
	// trainer_spec
	modelType    int // 1 unigram, 2 BPE, 3 word, 4 char
	byteFallback bool
	unkID        int
	bosID        int
	eosID        int
	padID        int
	// normalizer_spec
	normalizerName         string
	hasCharsMap            bool
	addDummyPrefix         bool
	removeExtraWhitespaces bool
	escapeWhitespaces      bool
}

type spPiece struct {
	piece string
	score float32
	typ   int32
}

// parseSentencePieceModel decodes a serialized ModelProto, filling in
// proto2 defaults for absent fields.
func parseSentencePieceModel(data []byte) (*spModelProto, error) {
	m := &spModelProto{modelType: 1, unkID: 0, bosID: 1, eosID: 2, padID: -1,
		addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true}
	r := protoReader{buf: data}
	for {
		f, ok, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("ModelProto: %w", err)
		}
		if !ok {
			break
		}
		switch {
		case f.number == 1 && f.wire == 2:
			p, err := parsePiece(f.data)
			if err != nil {
				return nil, fmt.Errorf("piece %d: %w", len(m.pieces), err)
			}
			m.pieces = append(m.pieces, p)
		case f.number == 2 && f.wire == 2:
			if err := m.parseTrainerSpec(f.data); err != nil {
				return nil, fmt.Errorf("trainer_spec: %w", err)
			}
		case f.number == 3 && f.wire == 2:
			if err := m.parseNormalizerSpec(f.data); err != nil {
				return nil, fmt.Errorf("normalizer_spec: %w", err)
			}
		}
	}
	if len(m.pieces) == 0 {
		return nil, errors.New("ModelProto has no pieces")
	}
	return m, nil
}

func parsePiece(data []byte) (spPiece, error) {
	p := spPiece{typ: TypeNormal}
	r := protoReader{buf: data}
	for {
		f, ok, err := r.next()
		if err != nil {
			return p, err
		}
		if !ok {
			return p, nil
		}
		switch {
		case f.number == 1 && f.wire == 2:
			p.piece = string(f.data)
		case f.number == 2 && f.wire == 5:
			p.score = math.Float32frombits(f.bits32)
		case f.number == 3 && f.wire == 0:
			p.typ = int32(f.num)
		}
	}
}

func (m *spModelProto) parseTrainerSpec(data []byte) error {
	r := protoReader{buf: data}
	for {
		f, ok, err := r.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if f.wire != 0 {
			continue
		}
		switch f.number {
		case 3:
			m.modelType = int(f.num)
		case 35:
			m.byteFallback = f.num != 0
		case 40:
			m.unkID = int(int32(f.num))
		case 41:
			m.bosID = int(int32(f.num))
		case 42:
			m.eosID = int(int32(f.num))
		case 43:
			m.padID = int(int32(f.num))
		}
	}
}

func (m *spModelProto) parseNormalizerSpec(data []byte) error {
	r := protoReader{buf: data}
	for {
		f, ok, err := r.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		switch {
		case f.number == 1 && f.wire == 2:
			m.normalizerName = string(f.data)
		case f.number == 2 && f.wire == 2:
			m.hasCharsMap = len(f.data) > 0
		case f.number == 3 && f.wire == 0:
			m.addDummyPrefix = f.num != 0
		case f.number == 4 && f.wire == 0:
			m.removeExtraWhitespaces = f.num != 0
		case f.number == 5 && f.wire == 0:
			m.escapeWhitespaces = f.num != 0
		}
	}
}
