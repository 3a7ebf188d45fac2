//go:build !js

package main

import (
	"encoding/binary"
	"fmt"
	"math"

	"nnst/core/model"
)

// A minimal ONNX (protobuf) writer: just what a VGG conv stack needs.

type pb []byte

func (b pb) varint(field int, v uint64) pb {
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func (b pb) bytes(field int, v []byte) pb {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func (b pb) str(field int, s string) pb { return b.bytes(field, []byte(s)) }

func attrInts(name string, v ...int64) pb {
	a := pb(nil).str(1, name)
	for _, x := range v {
		a = a.varint(8, uint64(x))
	}
	return a.varint(20, 7) // INTS
}

func node(op, name string, in, out []string, attrs ...pb) pb {
	n := pb(nil)
	for _, s := range in {
		n = n.str(1, s)
	}
	for _, s := range out {
		n = n.str(2, s)
	}
	n = n.str(3, name).str(4, op)
	for _, a := range attrs {
		n = n.bytes(5, a)
	}
	return n
}

func tensorProto(name string, dims []int64, data []float32) pb {
	t := pb(nil)
	for _, d := range dims {
		t = t.varint(1, uint64(d))
	}
	t = t.varint(2, 1).str(8, name) // FLOAT
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return t.bytes(9, raw)
}

// valueInfo is a float tensor with symbolic or fixed dims (string or int64).
func valueInfo(name string, dims ...any) pb {
	shape := pb(nil)
	for _, d := range dims {
		dim := pb(nil)
		switch d := d.(type) {
		case int64:
			dim = dim.varint(1, uint64(d))
		case string:
			dim = dim.str(2, d)
		}
		shape = shape.bytes(1, dim)
	}
	tt := pb(nil).varint(1, 1).bytes(2, shape)
	return pb(nil).str(1, name).bytes(2, pb(nil).bytes(1, tt))
}

// vggONNX is m's network as an ONNX model: input "x" (1x3xHxW, already
// normalised), output the last layer's ReLU.
func vggONNX(m *model.Model) ([]byte, error) {
	g := pb(nil).str(2, "nnst-"+m.Arch)
	x := "x"
	last := ""
	for _, l := range m.Layers {
		switch l.Kind {
		case "conv":
			c := l.Conv
			w, b := l.Name+".w", l.Name+".b"
			g = g.bytes(5, tensorProto(w, []int64{int64(c.Out), int64(c.In), 3, 3}, c.Weight))
			g = g.bytes(5, tensorProto(b, []int64{int64(c.Out)}, c.Bias))
			g = g.bytes(1, node("Conv", l.Name, []string{x, w, b}, []string{l.Name},
				attrInts("kernel_shape", 3, 3), attrInts("pads", 1, 1, 1, 1)))
			x = l.ReLU()
			g = g.bytes(1, node("Relu", x, []string{l.Name}, []string{x}))
			last = x
		case "pool":
			g = g.bytes(1, node("MaxPool", l.Name, []string{x}, []string{l.Name},
				attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2)))
			x = l.Name
		default:
			return nil, fmt.Errorf("layer %s: kind %q", l.Name, l.Kind)
		}
	}
	g = g.bytes(11, valueInfo("x", int64(1), int64(3), "h", "w"))
	g = g.bytes(12, valueInfo(last, int64(1), "c", "oh", "ow"))
	opset := pb(nil).str(1, "").varint(2, 13)
	return pb(nil).varint(1, 7).str(2, "nnst").bytes(7, g).bytes(8, opset), nil
}
