package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/sparkrun/sparkrun/runtime"
)

func init() {
	register("logits", "write the logits of every prompt position (llama.cpp reference format)", runLogits)
}

// runLogits writes line 1 = the ids, then one line per position with the n_vocab logits in %.6g,
// the format of the llama.cpp reference files, so outputs of two implementations can be diffed.
func runLogits(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logits", "[MODEL] (--ids 1,2,3 | --prompt TEXT)", stderr)
	lf := addLoadFlags(fs)
	lf.device = addDeviceFlag(fs)
	idList := fs.String("ids", "", "comma-separated token ids")
	prompt := fs.String("prompt", "", "text to tokenize (with BOS) instead of --ids")
	outPath := fs.String("out", "", "write to this file instead of stdout")
	incremental := fs.Bool("incremental", false, "evaluate one token at a time instead of one batch")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("logits takes at most one MODEL")
	}
	if (*idList == "") == (*prompt == "") {
		return usagef("give exactly one of --ids and --prompt")
	}
	path := ""
	if len(pos) == 1 {
		path = pos[0]
	}
	m, err := lf.load(path, *prompt != "")
	if err != nil {
		return err
	}
	defer m.Close()
	nVocab := m.engine.Config().NVocab
	var ids []int32
	if *idList != "" {
		ids, err = parseIDs(*idList, nVocab)
	} else {
		ids, err = m.tok.Encode(*prompt, true, false)
	}
	if err != nil {
		return err
	}
	sess := runtime.NewSessionOn(m.engine)
	var logits []float32
	if *incremental {
		for _, id := range ids {
			if err := sess.Decode(id); err != nil {
				return err
			}
			logits = append(logits, sess.Logits()...)
		}
	} else if logits, err = sess.PromptLogits(ids); err != nil {
		return err
	}
	w := stdout
	var file *os.File
	if *outPath != "" {
		if file, err = os.Create(*outPath); err != nil {
			return err
		}
		w = file
	}
	bw := bufio.NewWriter(w)
	for i, id := range ids {
		if i > 0 {
			bw.WriteByte(' ')
		}
		bw.WriteString(strconv.Itoa(int(id)))
	}
	bw.WriteByte('\n')
	var num []byte
	for p := range ids {
		for j, v := range logits[p*nVocab : (p+1)*nVocab] {
			if j > 0 {
				bw.WriteByte(' ')
			}
			num = strconv.AppendFloat(num[:0], float64(v), 'g', 6, 32)
			bw.Write(num)
		}
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %d positions x %d logits to %s\n", len(ids), nVocab, *outPath)
	}
	return nil
}
