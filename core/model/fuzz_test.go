package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func FuzzRead(f *testing.F) {
	for _, spec := range []Spec{VGG16, VGG19} {
		data, err := Random(spec, 64, 1).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":"))
	f.Add(binary.LittleEndian.AppendUint64(nil, 100<<20)) // a 100 MB header claimed
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(data)
		if err != nil {
			// Fix the hash so that mutations reach the later checks.
			hdr, payload, err := splitSafetensors(data)
			if err != nil {
				return
			}
			var h map[string]any
			if json.Unmarshal(hdr, &h) != nil {
				return
			}
			meta, ok := h["__metadata__"].(map[string]any)
			if !ok {
				return
			}
			sum := sha256.Sum256(payload)
			meta["sha256"] = hex.EncodeToString(sum[:])
			if m, err = Read(join(h, payload, false)); err != nil {
				return
			}
		}
		again, err := m.Marshal()
		if err != nil {
			t.Fatalf("accepted model does not marshal: %v", err)
		}
		if _, err := Read(again); err != nil {
			t.Fatalf("re-marshalled model rejected: %v", err)
		}
	})
}

// FuzzFromTFJSManifest mutates model.json over fixed shards.
func FuzzFromTFJSManifest(f *testing.F) {
	dir := f.TempDir()
	t := &testing.T{}
	writeTFJS(t, dir, tfjsOpts{spec: VGG19, shrink: 32, quant: "uint8", shard: 2048, drop: []int{-1}})
	shards := map[string][]byte{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if e.Name() == "model.json" {
			f.Add(b)
		} else {
			shards[e.Name()] = b
		}
	}
	// Seeds with a 7-byte first shard and a second shard one byte short.
	var mj map[string]any
	js, _ := os.ReadFile(filepath.Join(dir, "model.json"))
	if err := json.Unmarshal(js, &mj); err != nil {
		f.Fatal(err)
	}
	paths := mj["weightsManifest"].([]any)[0].(map[string]any)["paths"].([]any)
	shards["seven.bin"] = make([]byte, 7)
	shards["short.bin"] = shards[paths[1].(string)][1:]
	for i, name := range []string{"seven.bin", "short.bin"} {
		old := paths[i]
		paths[i] = name
		b, _ := json.Marshal(mj)
		f.Add(b)
		paths[i] = old
	}
	f.Add([]byte(`{"weightsManifest":[{"paths":["group1-shard1of3.bin"],"weights":[{"name":"block1_conv1/kernel","shape":[3,3,3,2],"dtype":"float32","quantization":{"dtype":"uint16","scale":1,"min":0}}]}]}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		m, err := fromTFJS(js, func(p string, _ int64) ([]byte, error) {
			if b, ok := shards[p]; ok {
				return b, nil
			}
			return nil, os.ErrNotExist
		})
		if err == nil {
			if _, err := m.Marshal(); err != nil {
				t.Fatalf("converted model does not marshal: %v", err)
			}
		}
	})
}

func FuzzPTH(f *testing.F) {
	for _, p := range []string{"testdata/tiny_vgg16.pth", "testdata/tiny_vgg19_legacy.pth"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range hostilePickles() { // a few KB zipped
		f.Add(pthZip([]byte(c[0])))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		debugPanics = os.Getenv("NNST_FUZZ_PANICS") != ""
		ts, err := readPTH(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, s := range ts {
			s.get()
		}
		fromTorchvision(ts, "", "fuzz")
	})
}
