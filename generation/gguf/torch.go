package gguf

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
)

// TorchTensor is one tensor of a PyTorch checkpoint.
type TorchTensor struct {
	DType         DType
	Shape         []int // PyTorch order, last dimension fastest
	Strides       []int // in elements; always contiguous (checked)
	StorageOffset int   // in elements, into the storage the tensor views
	Data          []byte
}

// Elements returns the number of elements of the tensor.
func (t TorchTensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32s converts an F32, F16, BF16 or F64 tensor to float32s.
func (t TorchTensor) Float32s() ([]float32, error) {
	return DecodeFloat32s(t.DType, t.Data)
}

// maxPickleBytes bounds data.pkl; a state dict's pickle is small.
const maxPickleBytes = 256 << 20

// ReadTorch reads the tensors of a PyTorch zip checkpoint such as
// pytorch_model.bin, keyed by state-dict name. Nested dicts are flattened
// with dots ("model.layer.weight"); non-tensor values are skipped.
//
// The pickle is interpreted by a restricted machine: only the opcodes a
// state dict needs and an allow-list of globals (collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 and friends, torch.*Storage) are
// accepted; anything else, os.system included, is refused. No code runs.
func ReadTorch(path string) (map[string]TorchTensor, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %s: not a zip checkpoint (legacy tar/pickle files are not supported): %w", path, err)
	}
	defer zr.Close()
	return readTorchZip(path, &zr.Reader)
}

// ReadTorchFrom reads a PyTorch zip checkpoint of the given size from r;
// see ReadTorch.
func ReadTorchFrom(r io.ReaderAt, size int64) (map[string]TorchTensor, error) {
	const name = "<reader>"
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %s: not a zip checkpoint: %w", name, err)
	}
	return readTorchZip(name, zr)
}

func readTorchZip(name string, zr *zip.Reader) (out map[string]TorchTensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("pytorch: %s: internal error while reading: %v", name, p)
		}
	}()
	files := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range zr.File {
		files[f.Name] = f
		if (strings.HasSuffix(f.Name, "/data.pkl") && strings.Count(f.Name, "/") == 1) || f.Name == "data.pkl" {
			if pkl != nil {
				return nil, fmt.Errorf("pytorch: %s: two data.pkl entries (%s, %s)", name, pkl.Name, f.Name)
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, fmt.Errorf("pytorch: %s: no data.pkl entry in the zip archive", name)
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	if bo, ok := files[prefix+"byteorder"]; ok {
		b, err := readZipEntry(bo, 16)
		if err != nil {
			return nil, fmt.Errorf("pytorch: %s: %w", name, err)
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, fmt.Errorf("pytorch: %s: byte order %q is not supported (little-endian only)", name, s)
		}
	}
	code, err := readZipEntry(pkl, maxPickleBytes)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %s: %w", name, err)
	}
	load := func(dt DType, key string, numel int64) ([]byte, error) {
		f, ok := files[prefix+"data/"+key]
		if !ok {
			return nil, fmt.Errorf("storage %q: no entry %sdata/%s in the archive", key, prefix, key)
		}
		if numel < 0 || numel > math.MaxInt64/8 {
			return nil, fmt.Errorf("storage %q: bad element count %d", key, numel)
		}
		want := uint64(numel) * uint64(dt.Size())
		if f.UncompressedSize64 != want {
			return nil, fmt.Errorf("storage %q: entry holds %d bytes, %d %s elements need %d", key, f.UncompressedSize64, numel, dt, want)
		}
		return readZipEntry(f, want)
	}
	root, err := unpickle(code, load)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %s: %s: %w", name, pkl.Name, err)
	}
	out = map[string]TorchTensor{}
	if err := collectTensors(root, "", out, 0); err != nil {
		return nil, fmt.Errorf("pytorch: %s: %w", name, err)
	}
	return out, nil
}

// readZipEntry reads a whole entry of at most limit bytes, refusing entries
// whose declared size is larger or whose compression ratio is implausible.
func readZipEntry(f *zip.File, limit uint64) ([]byte, error) {
	size := f.UncompressedSize64
	if size > limit {
		return nil, fmt.Errorf("entry %s: %d bytes exceeds the %d byte limit", f.Name, size, limit)
	}
	switch f.Method {
	case zip.Store:
		if size != f.CompressedSize64 {
			return nil, fmt.Errorf("entry %s: stored entry sizes disagree (%d vs %d)", f.Name, size, f.CompressedSize64)
		}
	case zip.Deflate:
		if size > 1100*f.CompressedSize64+1024 {
			return nil, fmt.Errorf("entry %s: implausible compression ratio", f.Name)
		}
	default:
		return nil, fmt.Errorf("entry %s: unsupported compression method %d", f.Name, f.Method)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", f.Name, err)
	}
	defer rc.Close()
	buf := make([]byte, size)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("entry %s: %w", f.Name, err)
	}
	return buf, nil
}

func collectTensors(v any, prefix string, out map[string]TorchTensor, depth int) error {
	if depth > 16 {
		return errors.New("dicts nested too deeply")
	}
	d, ok := v.(*pyDict)
	if !ok {
		return fmt.Errorf("checkpoint root is %s, not a dict", typeName(v))
	}
	for i, k := range d.keys {
		key, ok := k.(string)
		if !ok {
			return fmt.Errorf("state dict key %v is %s, not a string", k, typeName(k))
		}
		if prefix != "" {
			key = prefix + "." + key
		}
		switch val := d.values[i].(type) {
		case *TorchTensor:
			if _, dup := out[key]; dup {
				return fmt.Errorf("tensor %q appears twice", key)
			}
			out[key] = *val
		case *pyDict:
			if err := collectTensors(val, key, out, depth+1); err != nil {
				return err
			}
		default:
			slog.Debug("pytorch checkpoint: skipping non-tensor entry", "key", key, "type", typeName(val))
		}
	}
	return nil
}

// Pickle machine values.
type (
	pyGlobal struct{ module, name string }
	pyTuple  []any
	pyList   struct{ items []any }
	pyDict   struct {
		keys   []any
		values []any
		index  map[any]int
	}
	pyMark     struct{}
	torchStore struct {
		dtype DType
		key   string
		numel int64
		data  []byte
	}
)

func (g pyGlobal) String() string { return g.module + "." + g.name }

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return "str"
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return "global " + v.String()
	case *torchStore:
		return "storage"
	case *TorchTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64:
	default:
		return fmt.Errorf("dict key of type %s is not supported", typeName(k))
	}
	if d.index == nil {
		d.index = map[any]int{}
	}
	if i, ok := d.index[k]; ok {
		d.values[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.values = append(d.values, v)
	return nil
}

var storageDTypes = map[string]DType{
	"FloatStorage":    DTypeF32,
	"DoubleStorage":   DTypeF64,
	"HalfStorage":     DTypeF16,
	"BFloat16Storage": DTypeBF16,
	"LongStorage":     DTypeI64,
	"IntStorage":      DTypeI32,
	"ShortStorage":    DTypeI16,
	"CharStorage":     DTypeI8,
	"ByteStorage":     DTypeU8,
	"BoolStorage":     DTypeBool,
}

var allowedCallables = map[pyGlobal]bool{
	{"collections", "OrderedDict"}:                    true,
	{"torch._utils", "_rebuild_tensor"}:               true,
	{"torch._utils", "_rebuild_tensor_v2"}:            true,
	{"torch._utils", "_rebuild_parameter"}:            true,
	{"torch._utils", "_rebuild_parameter_with_state"}: true,
}

func allowedGlobal(g pyGlobal) bool {
	if allowedCallables[g] {
		return true
	}
	_, ok := storageDTypes[g.name]
	return ok && g.module == "torch"
}

type storageLoader func(dt DType, key string, numel int64) ([]byte, error)

// Pickle opcodes the machine accepts.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opBinFloat       = 'G'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opSetItems       = 'u'
	opEmptyDict      = '}'
	opEmptyTuple     = ')'
	opProto          = 0x80
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opShortBinUnicod = 0x8c
	opBinUnicode8    = 0x8d
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

type pickleVM struct {
	code     []byte
	pos      int
	stack    []any
	marks    []int
	memo     map[uint64]any
	load     storageLoader
	storages map[string]*torchStore
}

// unpickle runs the restricted pickle machine over code and returns the
// object left by STOP.
func unpickle(code []byte, load storageLoader) (any, error) {
	vm := &pickleVM{code: code, memo: map[uint64]any{}, load: load, storages: map[string]*torchStore{}}
	for {
		if vm.pos >= len(vm.code) {
			return nil, errors.New("pickle ends without STOP")
		}
		at := vm.pos
		op := vm.code[vm.pos]
		vm.pos++
		done, err := vm.step(op)
		if err != nil {
			return nil, fmt.Errorf("pickle opcode %#02x at offset %d: %w", op, at, err)
		}
		if done {
			if len(vm.stack) != 1 || len(vm.marks) != 0 {
				return nil, fmt.Errorf("pickle STOP with %d objects on the stack", len(vm.stack))
			}
			return vm.stack[0], nil
		}
	}
}

func (vm *pickleVM) take(n int) ([]byte, error) {
	if n < 0 || n > len(vm.code)-vm.pos {
		return nil, fmt.Errorf("argument of %d bytes runs past the end of the pickle", n)
	}
	b := vm.code[vm.pos : vm.pos+n]
	vm.pos += n
	return b, nil
}

func (vm *pickleVM) uint(n int) (uint64, error) {
	b, err := vm.take(n)
	if err != nil {
		return 0, err
	}
	var x uint64
	for i := n - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	return x, nil
}

func (vm *pickleVM) push(v any) { vm.stack = append(vm.stack, v) }

func (vm *pickleVM) pop() (any, error) {
	floor := 0
	if len(vm.marks) > 0 {
		floor = vm.marks[len(vm.marks)-1]
	}
	if len(vm.stack) <= floor {
		return nil, errors.New("stack underflow")
	}
	v := vm.stack[len(vm.stack)-1]
	vm.stack = vm.stack[:len(vm.stack)-1]
	return v, nil
}

func (vm *pickleVM) top() (any, error) {
	v, err := vm.pop()
	if err == nil {
		vm.push(v)
	}
	return v, err
}

// popMark returns the objects pushed since the last MARK and removes them
// and the mark.
func (vm *pickleVM) popMark() ([]any, error) {
	if len(vm.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	m := vm.marks[len(vm.marks)-1]
	vm.marks = vm.marks[:len(vm.marks)-1]
	items := append([]any(nil), vm.stack[m:]...)
	vm.stack = vm.stack[:m]
	return items, nil
}

func (vm *pickleVM) str(n int) error {
	b, err := vm.take(n)
	if err != nil {
		return err
	}
	vm.push(string(b))
	return nil
}

func (vm *pickleVM) step(op byte) (bool, error) {
	switch op {
	case opProto:
		v, err := vm.uint(1)
		if err != nil {
			return false, err
		}
		if v < 2 || v > 5 {
			return false, fmt.Errorf("pickle protocol %d is not supported", v)
		}
	case opFrame:
		if _, err := vm.uint(8); err != nil {
			return false, err
		}
	case opStop:
		return true, nil
	case opMark:
		vm.marks = append(vm.marks, len(vm.stack))
	case opPop:
		if _, err := vm.pop(); err != nil {
			return false, err
		}
	case opPopMark:
		if _, err := vm.popMark(); err != nil {
			return false, err
		}
	case opNone:
		vm.push(nil)
	case opNewTrue:
		vm.push(true)
	case opNewFalse:
		vm.push(false)
	case opBinInt:
		v, err := vm.uint(4)
		vm.push(int64(int32(uint32(v))))
		return false, err
	case opBinInt1:
		v, err := vm.uint(1)
		vm.push(int64(v))
		return false, err
	case opBinInt2:
		v, err := vm.uint(2)
		vm.push(int64(v))
		return false, err
	case opLong1:
		n, err := vm.uint(1)
		if err != nil {
			return false, err
		}
		if n > 8 {
			return false, fmt.Errorf("LONG1 of %d bytes is too large", n)
		}
		b, err := vm.take(int(n))
		if err != nil {
			return false, err
		}
		var x int64
		for i := len(b) - 1; i >= 0; i-- {
			x = x<<8 | int64(b[i])
		}
		if n > 0 && n < 8 && b[n-1]&0x80 != 0 { // sign-extend two's complement
			x -= int64(1) << (8 * n)
		}
		vm.push(x)
	case opBinFloat:
		b, err := vm.take(8)
		if err != nil {
			return false, err
		}
		vm.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opBinUnicode:
		n, err := vm.uint(4)
		if err != nil {
			return false, err
		}
		return false, vm.str(int(min(n, math.MaxInt32)))
	case opShortBinUnicod:
		n, err := vm.uint(1)
		if err != nil {
			return false, err
		}
		return false, vm.str(int(n))
	case opBinUnicode8:
		n, err := vm.uint(8)
		if err != nil {
			return false, err
		}
		return false, vm.str(int(min(n, math.MaxInt32)))
	case opEmptyDict:
		vm.push(&pyDict{})
	case opEmptyList:
		vm.push(&pyList{})
	case opEmptyTuple:
		vm.push(pyTuple{})
	case opTuple:
		items, err := vm.popMark()
		if err != nil {
			return false, err
		}
		vm.push(pyTuple(items))
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		items := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := vm.pop()
			if err != nil {
				return false, err
			}
			items[i] = v
		}
		vm.push(items)
	case opAppend:
		v, err := vm.pop()
		if err != nil {
			return false, err
		}
		return false, vm.appendTo([]any{v})
	case opAppends:
		items, err := vm.popMark()
		if err != nil {
			return false, err
		}
		return false, vm.appendTo(items)
	case opSetItem:
		v, err := vm.pop()
		if err != nil {
			return false, err
		}
		k, err := vm.pop()
		if err != nil {
			return false, err
		}
		return false, vm.setItems([]any{k, v})
	case opSetItems:
		items, err := vm.popMark()
		if err != nil {
			return false, err
		}
		return false, vm.setItems(items)
	case opBinPut, opLongBinPut:
		n := 1
		if op == opLongBinPut {
			n = 4
		}
		idx, err := vm.uint(n)
		if err != nil {
			return false, err
		}
		v, err := vm.top()
		if err != nil {
			return false, err
		}
		vm.memo[idx] = v
	case opMemoize:
		v, err := vm.top()
		if err != nil {
			return false, err
		}
		vm.memo[uint64(len(vm.memo))] = v
	case opBinGet, opLongBinGet:
		n := 1
		if op == opLongBinGet {
			n = 4
		}
		idx, err := vm.uint(n)
		if err != nil {
			return false, err
		}
		v, ok := vm.memo[idx]
		if !ok {
			return false, fmt.Errorf("memo entry %d is not set", idx)
		}
		vm.push(v)
	case opGlobal:
		module, err := vm.line()
		if err != nil {
			return false, err
		}
		name, err := vm.line()
		if err != nil {
			return false, err
		}
		return false, vm.global(pyGlobal{module, name})
	case opStackGlobal:
		name, err := vm.pop()
		if err != nil {
			return false, err
		}
		module, err := vm.pop()
		if err != nil {
			return false, err
		}
		ms, ok1 := module.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return false, errors.New("STACK_GLOBAL needs two strings")
		}
		return false, vm.global(pyGlobal{ms, ns})
	case opBinPersID:
		pid, err := vm.pop()
		if err != nil {
			return false, err
		}
		s, err := vm.persistentLoad(pid)
		if err != nil {
			return false, err
		}
		vm.push(s)
	case opReduce:
		args, err := vm.pop()
		if err != nil {
			return false, err
		}
		fn, err := vm.pop()
		if err != nil {
			return false, err
		}
		tuple, ok := args.(pyTuple)
		if !ok {
			return false, fmt.Errorf("REDUCE arguments are %s, not a tuple", typeName(args))
		}
		v, err := vm.call(fn, tuple)
		if err != nil {
			return false, err
		}
		vm.push(v)
	case opBuild:
		state, err := vm.pop()
		if err != nil {
			return false, err
		}
		obj, err := vm.top()
		if err != nil {
			return false, err
		}
		// State is accepted (and ignored) only for OrderedDicts (a state
		// dict's _metadata) and tensors (parameter state).
		switch obj.(type) {
		case *pyDict, *TorchTensor:
		default:
			return false, fmt.Errorf("BUILD on %s is not allowed", typeName(obj))
		}
		_ = state
	default:
		return false, fmt.Errorf("opcode is not allowed in a state dict pickle")
	}
	return false, nil
}

func (vm *pickleVM) line() (string, error) {
	rest := vm.code[vm.pos:]
	i := strings.IndexByte(string(rest[:min(len(rest), 256)]), '\n')
	if i < 0 {
		return "", errors.New("GLOBAL name not terminated by a newline within 256 bytes")
	}
	vm.pos += i + 1
	return string(rest[:i]), nil
}

func (vm *pickleVM) global(g pyGlobal) error {
	if !allowedGlobal(g) {
		return fmt.Errorf("global %q is not allowed (only OrderedDict, torch tensor rebuilders and torch storage types)", g.String())
	}
	vm.push(g)
	return nil
}

func (vm *pickleVM) appendTo(items []any) error {
	v, err := vm.top()
	if err != nil {
		return err
	}
	l, ok := v.(*pyList)
	if !ok {
		return fmt.Errorf("APPEND to %s", typeName(v))
	}
	l.items = append(l.items, items...)
	return nil
}

func (vm *pickleVM) setItems(items []any) error {
	if len(items)%2 != 0 {
		return errors.New("SETITEMS with an odd number of items")
	}
	v, err := vm.top()
	if err != nil {
		return err
	}
	d, ok := v.(*pyDict)
	if !ok {
		return fmt.Errorf("SETITEM on %s", typeName(v))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// persistentLoad resolves ('storage', StorageType, key, location, numel).
func (vm *pickleVM) persistentLoad(pid any) (*torchStore, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id %v is not a ('storage', type, key, location, numel) tuple", pid)
	}
	g, ok := t[1].(pyGlobal)
	dt := storageDTypes[g.name]
	if !ok || g.module != "torch" || dt == "" {
		return nil, fmt.Errorf("persistent id storage type %s is not a torch storage class", typeName(t[1]))
	}
	key, ok1 := t[2].(string)
	_, ok2 := t[3].(string)
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, fmt.Errorf("persistent id %v has bad key, location or size", pid)
	}
	if s, ok := vm.storages[key]; ok {
		if s.dtype != dt || s.numel != numel {
			return nil, fmt.Errorf("storage %q declared twice with different types or sizes", key)
		}
		return s, nil
	}
	data, err := vm.load(dt, key, numel)
	if err != nil {
		return nil, err
	}
	s := &torchStore{dtype: dt, key: key, numel: numel, data: data}
	vm.storages[key] = s
	return s, nil
}

func (vm *pickleVM) call(fn any, args pyTuple) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok || !allowedCallables[g] {
		return nil, fmt.Errorf("REDUCE may not call %s", typeName(fn))
	}
	switch g.name {
	case "OrderedDict":
		if len(args) != 0 {
			return nil, fmt.Errorf("OrderedDict called with %d arguments", len(args))
		}
		return &pyDict{}, nil
	case "_rebuild_tensor", "_rebuild_tensor_v2":
		if len(args) < 4 {
			return nil, fmt.Errorf("%s called with %d arguments", g.name, len(args))
		}
		return rebuildTensor(args[0], args[1], args[2], args[3])
	case "_rebuild_parameter", "_rebuild_parameter_with_state":
		if len(args) < 1 {
			return nil, fmt.Errorf("%s called without arguments", g.name)
		}
		t, ok := args[0].(*TorchTensor)
		if !ok {
			return nil, fmt.Errorf("%s called on %s", g.name, typeName(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("REDUCE may not call %s", g)
}

func intTuple(v any, what string) ([]int, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("tensor %s is %s, not a tuple", what, typeName(v))
	}
	out := make([]int, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("tensor %s %v has a bad element", what, v)
		}
		out[i] = int(n)
	}
	return out, nil
}

func rebuildTensor(storage, offset, size, stride any) (*TorchTensor, error) {
	s, ok := storage.(*torchStore)
	if !ok {
		return nil, fmt.Errorf("tensor storage is %s", typeName(storage))
	}
	off, ok := offset.(int64)
	if !ok || off < 0 || off > s.numel {
		return nil, fmt.Errorf("tensor storage offset %v is outside storage %q of %d elements", offset, s.key, s.numel)
	}
	shape, err := intTuple(size, "size")
	if err != nil {
		return nil, err
	}
	strides, err := intTuple(stride, "stride")
	if err != nil {
		return nil, err
	}
	if len(shape) != len(strides) {
		return nil, fmt.Errorf("tensor size %v and stride %v differ in length", shape, strides)
	}
	numel := int64(1)
	for _, d := range shape {
		if d != 0 && numel > math.MaxInt64/int64(d) {
			return nil, fmt.Errorf("tensor size %v overflows", shape)
		}
		numel *= int64(d)
	}
	expect := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] > 1 && int64(strides[i]) != expect {
			return nil, fmt.Errorf("tensor of size %v has strides %v: only contiguous tensors are supported", shape, strides)
		}
		expect *= int64(max(shape[i], 1))
	}
	if numel > s.numel-off {
		return nil, fmt.Errorf("tensor of size %v at offset %d needs more than the %d elements of storage %q", shape, off, s.numel, s.key)
	}
	es := int64(s.dtype.Size())
	begin, end := off*es, (off+numel)*es
	return &TorchTensor{DType: s.dtype, Shape: shape, Strides: strides, StorageOffset: int(off), Data: s.data[begin:end:end]}, nil
}
