package llm

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// MergeLoRA writes to dst a copy of the base model file with the LoRA
// updates of set folded into the weights, W' = W + Σ s·B·A, computed in
// float64 from the dequantized base weight. Merged weights are stored as
// outType (falling back, like the quantizer, when a row length is not a
// whole number of blocks); every other tensor and all metadata are copied
// unchanged. Sets with a prefix adapter cannot be merged.
func MergeLoRA(ctx context.Context, dst string, base *gguf.File, set *AdapterSet, outType tensor.DType) error {
	if set == nil {
		return fmt.Errorf("merge into %s: no adapters", dst)
	}
	if set.Prefix() != nil {
		return fmt.Errorf("merge into %s: prefix adapters cannot be merged into weights; serve them unmerged", dst)
	}
	if !outType.Supported() {
		return fmt.Errorf("merge into %s: unsupported output type %v", dst, outType)
	}
	w := gguf.NewWriter()
	for _, kv := range base.KV {
		if kv.Key == "zhiwen.merged_adapters" {
			continue
		}
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("merge into %s: metadata %s: %w", dst, kv.Key, err)
		}
	}
	if err := w.AddKV("zhiwen.merged_adapters", set.Name()); err != nil {
		return fmt.Errorf("merge into %s: %w", dst, err)
	}
	merged := 0
	for i := range base.Tensors {
		ti := &base.Tensors[i]
		var ops []loraOp
		if layer, t, ok := parseWeightName(ti.Name); ok && layer < len(set.ops) {
			ops = set.ops[layer][t]
		}
		if len(ops) == 0 {
			err := w.AddTensorFunc(ti.Name, ti.Type, ti.Shape, func(out io.Writer) error {
				data, err := base.TensorData(ti)
				if err != nil {
					return fmt.Errorf("tensor %s: %w", ti.Name, err)
				}
				_, err = out.Write(data)
				return err
			})
			if err != nil {
				return fmt.Errorf("merge into %s: %w", dst, err)
			}
			continue
		}
		if len(ti.Shape) != 2 {
			return fmt.Errorf("merge into %s: tensor %s: shape %v is not a matrix", dst, ti.Name, ti.Shape)
		}
		rows, cols := int(ti.Shape[1]), int(ti.Shape[0])
		for _, op := range ops {
			if op.a.Cols != cols || op.b.Rows != rows {
				return fmt.Errorf("merge into %s: tensor %s: LoRA update is %d×%d, weight is %d×%d", dst, ti.Name, op.b.Rows, op.a.Cols, rows, cols)
			}
		}
		typ := tensor.StorageType(outType, cols)
		merged++
		err := w.AddTensorFunc(ti.Name, gguf.TensorType(typ), ti.Shape, func(out io.Writer) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return writeMerged(out, base, ti, ops, typ)
		})
		if err != nil {
			return fmt.Errorf("merge into %s: %w", dst, err)
		}
	}
	if err := gguf.WriteFile(ctx, dst, w); err != nil {
		return fmt.Errorf("merge into %s: %w", dst, err)
	}
	slog.Info("LoRA merged", "dst", dst, "adapters", set.Name(), "weights", merged, "type", outType.String())
	return nil
}

// writeMerged computes one merged weight row by row and writes it encoded
// as typ.
func writeMerged(out io.Writer, base *gguf.File, ti *gguf.TensorInfo, ops []loraOp, typ tensor.DType) error {
	rows, cols := int(ti.Shape[1]), int(ti.Shape[0])
	data, err := base.TensorData(ti)
	if err != nil {
		return fmt.Errorf("tensor %s: %w", ti.Name, err)
	}
	wm, err := tensor.NewMatrix(tensor.DType(ti.Type), rows, cols, data)
	if err != nil {
		return fmt.Errorf("tensor %s: %w", ti.Name, err)
	}
	// Pre-read the float32 factors once.
	type factors struct {
		a, b  []float32
		rank  int
		scale float64
	}
	fs := make([]factors, len(ops))
	for i, op := range ops {
		fs[i] = factors{a: matrixFloats(op.a), b: matrixFloats(op.b), rank: op.a.Rows, scale: float64(op.scale)}
	}
	row := make([]float32, cols)
	acc := make([]float64, cols)
	for r := range rows {
		wm.Row(r, row)
		for c, v := range row {
			acc[c] = float64(v)
		}
		for _, f := range fs {
			for k := range f.rank {
				coef := f.scale * float64(f.b[r*f.rank+k])
				if coef == 0 {
					continue
				}
				ak := f.a[k*cols : (k+1)*cols]
				for c, av := range ak {
					acc[c] += coef * float64(av)
				}
			}
		}
		for c, v := range acc {
			row[c] = float32(v)
		}
		enc, err := encodeRow(typ, row)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", ti.Name, err)
		}
		if _, err := out.Write(enc); err != nil {
			return err
		}
	}
	return nil
}

// matrixFloats returns an F32 matrix's values.
func matrixFloats(m *tensor.Matrix) []float32 {
	out := make([]float32, m.Rows*m.Cols)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(m.Data[4*i:]))
	}
	return out
}
