package gguf

import (
	"fmt"
	"math"
)

// ValueType is the type tag of a GGUF metadata value.
type ValueType uint32

// GGUF metadata value types. The numbering is fixed by the format.
const (
	ValueUint8   ValueType = 0
	ValueInt8    ValueType = 1
	ValueUint16  ValueType = 2
	ValueInt16   ValueType = 3
	ValueUint32  ValueType = 4
	ValueInt32   ValueType = 5
	ValueFloat32 ValueType = 6
	ValueBool    ValueType = 7
	ValueString  ValueType = 8
	ValueArray   ValueType = 9
	ValueUint64  ValueType = 10
	ValueInt64   ValueType = 11
	ValueFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// String returns the GGUF name of the value type.
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// scalarSize returns the encoded size of a fixed-size scalar type, or 0 for
// string, array and unknown types.
func (t ValueType) scalarSize() int {
	switch t {
	case ValueUint8, ValueInt8, ValueBool:
		return 1
	case ValueUint16, ValueInt16:
		return 2
	case ValueUint32, ValueInt32, ValueFloat32:
		return 4
	case ValueUint64, ValueInt64, ValueFloat64:
		return 8
	}
	return 0
}

// Value is one GGUF metadata value.
//
// Data holds the Go value: uint8, int8, uint16, int16, uint32, int32,
// float32, bool, string, uint64, int64 or float64 for scalars; for arrays of
// those a slice of the same Go type ([]uint8 ... []string); for arrays of
// arrays a []Value whose elements are themselves arrays.
type Value struct {
	Type ValueType // scalar type, or ValueArray
	Elem ValueType // element type when Type is ValueArray
	Data any
}

// KeyValue is one metadata entry, in file order.
type KeyValue struct {
	Key   string
	Value Value
}

// Len returns the number of elements of an array value, or 0 for scalars.
func (v Value) Len() int {
	switch d := v.Data.(type) {
	case []uint8:
		return len(d)
	case []int8:
		return len(d)
	case []uint16:
		return len(d)
	case []int16:
		return len(d)
	case []uint32:
		return len(d)
	case []int32:
		return len(d)
	case []float32:
		return len(d)
	case []bool:
		return len(d)
	case []string:
		return len(d)
	case []uint64:
		return len(d)
	case []int64:
		return len(d)
	case []float64:
		return len(d)
	case []Value:
		return len(d)
	}
	return 0
}

// valueOf converts a Go value into a Value, checking it is a type GGUF can
// store. Plain int and uint are refused: GGUF readers check exact integer
// widths, so callers must choose one.
func valueOf(x any) (Value, error) {
	switch d := x.(type) {
	case Value:
		if err := d.check(0); err != nil {
			return Value{}, err
		}
		return d, nil
	case uint8:
		return Value{Type: ValueUint8, Data: d}, nil
	case int8:
		return Value{Type: ValueInt8, Data: d}, nil
	case uint16:
		return Value{Type: ValueUint16, Data: d}, nil
	case int16:
		return Value{Type: ValueInt16, Data: d}, nil
	case uint32:
		return Value{Type: ValueUint32, Data: d}, nil
	case int32:
		return Value{Type: ValueInt32, Data: d}, nil
	case float32:
		return Value{Type: ValueFloat32, Data: d}, nil
	case bool:
		return Value{Type: ValueBool, Data: d}, nil
	case string:
		return Value{Type: ValueString, Data: d}, nil
	case uint64:
		return Value{Type: ValueUint64, Data: d}, nil
	case int64:
		return Value{Type: ValueInt64, Data: d}, nil
	case float64:
		return Value{Type: ValueFloat64, Data: d}, nil
	case []uint8:
		return Value{Type: ValueArray, Elem: ValueUint8, Data: d}, nil
	case []int8:
		return Value{Type: ValueArray, Elem: ValueInt8, Data: d}, nil
	case []uint16:
		return Value{Type: ValueArray, Elem: ValueUint16, Data: d}, nil
	case []int16:
		return Value{Type: ValueArray, Elem: ValueInt16, Data: d}, nil
	case []uint32:
		return Value{Type: ValueArray, Elem: ValueUint32, Data: d}, nil
	case []int32:
		return Value{Type: ValueArray, Elem: ValueInt32, Data: d}, nil
	case []float32:
		return Value{Type: ValueArray, Elem: ValueFloat32, Data: d}, nil
	case []bool:
		return Value{Type: ValueArray, Elem: ValueBool, Data: d}, nil
	case []string:
		return Value{Type: ValueArray, Elem: ValueString, Data: d}, nil
	case []uint64:
		return Value{Type: ValueArray, Elem: ValueUint64, Data: d}, nil
	case []int64:
		return Value{Type: ValueArray, Elem: ValueInt64, Data: d}, nil
	case []float64:
		return Value{Type: ValueArray, Elem: ValueFloat64, Data: d}, nil
	case []Value:
		v := Value{Type: ValueArray, Elem: ValueArray, Data: d}
		if err := v.check(0); err != nil {
			return Value{}, err
		}
		return v, nil
	case int, uint:
		return Value{}, fmt.Errorf("value of Go type %T: choose a sized integer type (uint32, int32, uint64...)", x)
	}
	return Value{}, fmt.Errorf("value of Go type %T cannot be stored in GGUF", x)
}

// maxNesting bounds arrays of arrays, in the reader and the writer.
const maxNesting = 8

// check verifies that Data matches Type and Elem.
func (v Value) check(depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("arrays nested deeper than %d", maxNesting)
	}
	if v.Type != ValueArray {
		w, err := valueOf(v.Data)
		if err != nil {
			return err
		}
		if w.Type != v.Type {
			return fmt.Errorf("value type %s holds Go %T", v.Type, v.Data)
		}
		return nil
	}
	if nested, ok := v.Data.([]Value); ok {
		if v.Elem != ValueArray {
			return fmt.Errorf("array of %s holds []Value", v.Elem)
		}
		for i, e := range nested {
			if e.Type != ValueArray {
				return fmt.Errorf("nested array element %d is %s, not array", i, e.Type)
			}
			if err := e.check(depth + 1); err != nil {
				return fmt.Errorf("nested array element %d: %w", i, err)
			}
		}
		return nil
	}
	w, err := valueOf(v.Data)
	if err != nil {
		return err
	}
	if w.Type != ValueArray || w.Elem != v.Elem {
		return fmt.Errorf("array of %s holds Go %T", v.Elem, v.Data)
	}
	return nil
}

// Uint returns the value as an unsigned integer if it is an integer scalar
// that is not negative.
func (v Value) Uint() (uint64, bool) {
	switch d := v.Data.(type) {
	case uint8:
		return uint64(d), true
	case uint16:
		return uint64(d), true
	case uint32:
		return uint64(d), true
	case uint64:
		return d, true
	case int8, int16, int32, int64:
		i, _ := v.Int()
		if i < 0 {
			return 0, false
		}
		return uint64(i), true
	}
	return 0, false
}

// Int returns the value as a signed integer if it is an integer scalar that
// fits in int64.
func (v Value) Int() (int64, bool) {
	switch d := v.Data.(type) {
	case int8:
		return int64(d), true
	case int16:
		return int64(d), true
	case int32:
		return int64(d), true
	case int64:
		return d, true
	case uint8:
		return int64(d), true
	case uint16:
		return int64(d), true
	case uint32:
		return int64(d), true
	case uint64:
		if d > math.MaxInt64 {
			return 0, false
		}
		return int64(d), true
	}
	return 0, false
}

// Float returns the value as float64 if it is a float or integer scalar.
func (v Value) Float() (float64, bool) {
	switch d := v.Data.(type) {
	case float32:
		return float64(d), true
	case float64:
		return d, true
	}
	if i, ok := v.Int(); ok {
		return float64(i), true
	}
	if u, ok := v.Uint(); ok {
		return float64(u), true
	}
	return 0, false
}

// Ints returns an integer array as int64s.
func (v Value) Ints() ([]int64, bool) {
	switch d := v.Data.(type) {
	case []int8:
		return convertSlice(d, func(x int8) int64 { return int64(x) }), true
	case []uint8:
		return convertSlice(d, func(x uint8) int64 { return int64(x) }), true
	case []int16:
		return convertSlice(d, func(x int16) int64 { return int64(x) }), true
	case []uint16:
		return convertSlice(d, func(x uint16) int64 { return int64(x) }), true
	case []int32:
		return convertSlice(d, func(x int32) int64 { return int64(x) }), true
	case []uint32:
		return convertSlice(d, func(x uint32) int64 { return int64(x) }), true
	case []int64:
		return d, true
	case []uint64:
		out := make([]int64, len(d))
		for i, x := range d {
			if x > math.MaxInt64 {
				return nil, false
			}
			out[i] = int64(x)
		}
		return out, true
	}
	return nil, false
}

// Floats returns a float array as float32s (float64 elements are rounded).
func (v Value) Floats() ([]float32, bool) {
	switch d := v.Data.(type) {
	case []float32:
		return d, true
	case []float64:
		return convertSlice(d, func(x float64) float32 { return float32(x) }), true
	}
	return nil, false
}

func convertSlice[S, D any](src []S, f func(S) D) []D {
	out := make([]D, len(src))
	for i, x := range src {
		out[i] = f(x)
	}
	return out
}
