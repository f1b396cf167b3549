package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sparkrun/sparkrun/tokenizer"
)

func init() {
	register("tokenize", "show the token ids and pieces of a text", runTokenize)
}

func runTokenize(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tokenize", "[MODEL] TEXT", stderr)
	idsOnly := fs.Bool("ids-only", false, "print only the ids, comma separated")
	noSpecial := fs.Bool("no-special", false, "do not add BOS/EOS and do not parse special tokens in the text")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	path, text, err := modelAndArg(pos, "tokenize takes [MODEL] TEXT")
	if err != nil {
		return err
	}
	f, _, err := openModel(path, false)
	if err != nil {
		return err
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return modelError{err}
	}
	ids, err := tok.Encode(text, !*noSpecial, !*noSpecial)
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		type row struct {
			ID    int32  `json:"id"`
			Piece string `json:"piece"`
		}
		rows := make([]row, len(ids))
		for i, id := range ids {
			rows[i] = row{id, tok.Piece(id)}
		}
		return json.NewEncoder(stdout).Encode(rows)
	case *idsOnly:
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = strconv.Itoa(int(id))
		}
		fmt.Fprintln(stdout, strings.Join(s, ","))
	default:
		for _, id := range ids {
			fmt.Fprintf(stdout, "%6d -> %q\n", id, tok.Piece(id))
		}
	}
	return nil
}
