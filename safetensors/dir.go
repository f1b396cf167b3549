package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IndexName is the file that lists which shard holds each tensor of a sharded model.
const IndexName = "model.safetensors.index.json"

// SingleName is the file name of an unsharded model.
const SingleName = "model.safetensors"

// Set is the union of the tensors of one or more safetensors files (a sharded model).
type Set struct {
	Files   []*File
	Tensors []*Tensor // every tensor of every file, sorted by name
	owner   map[string]*File
}

// OpenDir opens the weights of a Hugging Face model folder: model.safetensors, or the shards
// listed in model.safetensors.index.json. Every shard is validated, the index must agree with
// the shards, and no tensor name may appear twice.
func OpenDir(dir string) (*Set, error) {
	if _, err := os.Stat(filepath.Join(dir, IndexName)); err == nil {
		return openIndexed(dir)
	}
	single := filepath.Join(dir, SingleName)
	if _, err := os.Stat(single); err != nil {
		return nil, fmt.Errorf("safetensors: %s: neither %s nor %s found", dir, SingleName, IndexName)
	}
	return openFiles([]string{single}, nil)
}

func openIndexed(dir string) (*Set, error) {
	path := filepath.Join(dir, IndexName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("safetensors: %s: %v", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors: %s: empty weight_map", path)
	}
	shardSet := map[string]bool{}
	for name, shard := range idx.WeightMap {
		// A shard name is a plain file name in the model folder; anything else could read
		// files outside it.
		if shard == "" || shard != filepath.Base(shard) || strings.HasPrefix(shard, ".") {
			return nil, fmt.Errorf("safetensors: %s: tensor %q: shard name %q is not a file in the model folder", path, name, shard)
		}
		shardSet[shard] = true
	}
	var paths []string
	for s := range shardSet {
		paths = append(paths, filepath.Join(dir, s))
	}
	sort.Strings(paths)
	return openFiles(paths, func(set *Set) error {
		for name, shard := range idx.WeightMap {
			f, ok := set.owner[name]
			if !ok {
				return fmt.Errorf("safetensors: %s: tensor %q listed in %s is in no shard", path, name, shard)
			}
			if filepath.Base(f.Path) != shard {
				return fmt.Errorf("safetensors: %s: tensor %q listed in %s but found in %s", path, name, shard, filepath.Base(f.Path))
			}
		}
		if len(set.owner) != len(idx.WeightMap) {
			return fmt.Errorf("safetensors: %s: shards hold %d tensors, the index lists %d", path, len(set.owner), len(idx.WeightMap))
		}
		return nil
	})
}

func openFiles(paths []string, check func(*Set) error) (*Set, error) {
	set := &Set{owner: map[string]*File{}}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			set.Close()
			return nil, err
		}
		set.Files = append(set.Files, f)
		for i := range f.Tensors {
			t := &f.Tensors[i]
			if prev, dup := set.owner[t.Name]; dup {
				set.Close()
				return nil, fmt.Errorf("safetensors: tensor %q appears in both %s and %s", t.Name, prev.Path, p)
			}
			set.owner[t.Name] = f
			set.Tensors = append(set.Tensors, t)
		}
	}
	sort.Slice(set.Tensors, func(i, j int) bool { return set.Tensors[i].Name < set.Tensors[j].Name })
	if check != nil {
		if err := check(set); err != nil {
			set.Close()
			return nil, err
		}
	}
	return set, nil
}

// Tensor returns the named tensor.
func (s *Set) Tensor(name string) (*Tensor, bool) {
	f, ok := s.owner[name]
	if !ok {
		return nil, false
	}
	return f.Tensor(name)
}

// ReadData reads the bytes of the named tensor.
func (s *Set) ReadData(name string) ([]byte, error) {
	f, ok := s.owner[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q", name)
	}
	t, _ := f.Tensor(name)
	return f.ReadData(t)
}

// Close closes every file of the set.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.Files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
