package chat

// jinja2 compiles a template to Python and decides per frame (the template
// body, a loop body, a for-else body, a macro body, a block set body) which
// names are local to it, scanning the frame in source order
// (jinja2/idtracking.py). A name whose first appearance in a frame is an
// unconditional {% set %}, and which no enclosing frame mentions, starts
// the frame as undefined: a loop or macro that reads it before the set
// sees Undefined even when the render context has that name. Names first
// set inside an if branch, or first read, resolve from the enclosing
// frames or the context instead. analyzeFrames computes those
// undefined-at-start names so the evaluator can reproduce this.

// frameSyms is the symbol table of one frame during analysis.
type frameSyms struct {
	refs  map[string]bool   // names this frame has seen
	outer []map[string]bool // refs of the enclosing frames
	undef []string          // names first stored unconditionally
}

func newFrameSyms(outer []map[string]bool, params []string) *frameSyms {
	f := &frameSyms{refs: map[string]bool{}, outer: outer}
	for _, p := range params {
		f.refs[p] = true
	}
	return f
}

func (f *frameSyms) inOuter(name string) bool {
	for _, o := range f.outer {
		if o[name] {
			return true
		}
	}
	return false
}

func (f *frameSyms) load(name string) {
	if !f.refs[name] && !f.inOuter(name) {
		f.refs[name] = true // resolved from the context at frame start
	}
}

func (f *frameSyms) store(name string, inBranch bool) {
	if f.refs[name] {
		return
	}
	f.refs[name] = true
	if !inBranch && !f.inOuter(name) {
		f.undef = append(f.undef, name)
	}
}

// analyzeFrame scans one frame's statements, then its child frames, and
// returns the names undefined at the start of this frame.
func analyzeFrame(body []stmt, outer []map[string]bool, params ...string) []string {
	f := newFrameSyms(outer, params)
	for _, s := range body {
		f.visitStmt(s, false)
	}
	inner := append(append([]map[string]bool{}, outer...), f.refs)
	for _, s := range body {
		analyzeChildren(s, inner)
	}
	return f.undef
}

// analyzeChildren finds the frames nested directly in s (looking through
// if statements, which are not frames) and analyzes them.
func analyzeChildren(s stmt, outer []map[string]bool) {
	switch s := s.(type) {
	case *ifStmt:
		for _, b := range s.bodies {
			for _, c := range b {
				analyzeChildren(c, outer)
			}
		}
		for _, c := range s.els {
			analyzeChildren(c, outer)
		}
	case *forStmt:
		s.bodyUndef = analyzeFrame(s.body, outer, append([]string{"loop"}, s.targets...)...)
		s.elseUndef = analyzeFrame(s.els, outer)
	case *macroStmt:
		s.undef = analyzeFrame(s.body, outer, s.params...)
	case *blockSetStmt:
		s.undef = analyzeFrame(s.body, outer)
	}
}

func (f *frameSyms) visitStmt(s stmt, inBranch bool) {
	switch s := s.(type) {
	case *outputStmt:
		f.visitExpr(s.x)
	case *ifStmt:
		f.visitExpr(s.conds[0])
		// Every branch, elif tests included, counts as conditional.
		for i, b := range s.bodies {
			if i > 0 {
				f.visitExpr(s.conds[i])
			}
			for _, c := range b {
				f.visitStmt(c, true)
			}
		}
		for _, c := range s.els {
			f.visitStmt(c, true)
		}
	case *forStmt:
		f.visitExpr(s.iter) // the body is a frame of its own
	case *setStmt:
		f.visitExpr(s.x)
		if s.nsName != "" {
			f.load(s.nsName)
		}
		for _, t := range s.targets {
			f.store(t, inBranch)
		}
	case *blockSetStmt:
		f.store(s.name, inBranch)
	case *macroStmt:
		f.store(s.name, inBranch)
	}
}

func (f *frameSyms) visitExprs(es []expr) {
	for _, e := range es {
		f.visitExpr(e)
	}
}

func (f *frameSyms) visitKw(kw []kwExpr) {
	for _, k := range kw {
		f.visitExpr(k.val)
	}
}

func (f *frameSyms) visitExpr(e expr) {
	switch e := e.(type) {
	case nil:
	case *nameExpr:
		f.load(e.name)
	case *listExpr:
		f.visitExprs(e.items)
	case *dictExpr:
		for i := range e.keys {
			f.visitExpr(e.keys[i])
			f.visitExpr(e.vals[i])
		}
	case *attrExpr:
		f.visitExpr(e.obj)
	case *itemExpr:
		f.visitExpr(e.obj)
		f.visitExpr(e.key)
	case *sliceExpr:
		f.visitExpr(e.obj)
		f.visitExpr(e.lo)
		f.visitExpr(e.hi)
		f.visitExpr(e.stride)
	case *callExpr:
		f.visitExpr(e.fn)
		f.visitExprs(e.args)
		f.visitKw(e.kw)
	case *filterExpr:
		f.visitExpr(e.x)
		f.visitExprs(e.args)
		f.visitKw(e.kw)
	case *testExpr:
		f.visitExpr(e.x)
		f.visitExprs(e.args)
		f.visitKw(e.kw)
	case *binExpr:
		f.visitExpr(e.l)
		f.visitExpr(e.r)
	case *compareExpr:
		f.visitExpr(e.first)
		f.visitExprs(e.rest)
	case *unaryExpr:
		f.visitExpr(e.x)
	case *condExpr:
		// jinja2 visits CondExpr fields in declaration order: test, expr1, expr2.
		f.visitExpr(e.cond)
		f.visitExpr(e.a)
		f.visitExpr(e.b)
	}
}
