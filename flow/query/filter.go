// Package query filters, groups and sorts flow records: the engine behind
// `kubectl netflow top`, its machine outputs and the terminal UI.
package query

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/interpreter"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// CostLimit caps the work one evaluation of a filter may do, so that a
// pathological expression cannot stall the engine.
const CostLimit = 100_000

// env is the CEL environment of every filter: each field of flow.Fields is a
// top-level variable of its type. It is built once.
var env = sync.OnceValues(func() (*cel.Env, error) {
	opts := make([]cel.EnvOption, 0, len(flow.Fields))
	for i := range flow.Fields {
		f := &flow.Fields[i]
		opts = append(opts, cel.Variable(f.Name, celType(f.Type)))
	}
	return cel.NewEnv(opts...)
})

func celType(t flow.Type) *cel.Type {
	switch t {
	case flow.TypeInt:
		return cel.IntType
	case flow.TypeTime:
		return cel.TimestampType
	default:
		return cel.StringType
	}
}

// Filter is a compiled CEL expression over the fields of a record.
type Filter struct {
	expr   string
	prg    cel.Program
	fields []*flow.Field
	varies bool
}

var undeclared = regexp.MustCompile(`(?:undeclared reference to '([^']+)'|reserved identifier: (\w+))`)

// CompileFilter compiles a CEL filter expression. The expression must yield
// a bool. Errors carry cel-go's message with its caret, and name the closest
// fields when the expression uses an unknown one.
func CompileFilter(expr string) (*Filter, error) {
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("building the filter environment: %w", err)
	}
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		msg := iss.Err().Error()
		var hints []string
		for _, m := range undeclared.FindAllStringSubmatch(msg, -1) {
			name := m[1] + m[2]
			hint := fmt.Sprintf("%q is not a field", name)
			if c := flow.Closest(name, flow.FieldNames(), 3); len(c) > 0 {
				hint += fmt.Sprintf("; closest: %s", strings.Join(c, ", "))
			}
			hints = append(hints, hint)
		}
		if len(hints) > 0 {
			msg += "\n" + strings.Join(hints, "\n") + "\n(`kubectl netflow fields` lists every field)"
		}
		return nil, &FilterError{Expr: expr, Msg: msg}
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, &FilterError{Expr: expr, Msg: fmt.Sprintf("the filter must be a condition (bool), but it yields %s", ast.OutputType())}
	}
	prg, err := e.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &FilterError{Expr: expr, Msg: err.Error()}
	}
	f := &Filter{expr: expr, prg: prg}
	seen := map[string]bool{}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if fd, ok := flow.LookupField(ref.Name); ok && !seen[ref.Name] {
			seen[ref.Name] = true
			f.fields = append(f.fields, fd)
			f.varies = f.varies || fd.Varies()
		}
	}
	slices.SortFunc(f.fields, func(a, b *flow.Field) int { return a.Index - b.Index })
	return f, nil
}

// FilterError is an expression that does not compile.
type FilterError struct {
	Expr string
	Msg  string
}

func (e *FilterError) Error() string { return "invalid filter: " + e.Msg }

// String returns the expression.
func (f *Filter) String() string { return f.expr }

// Fields returns the fields the expression reads, in table order.
func (f *Filter) Fields() []*flow.Field { return f.fields }

// Varies reports whether the expression reads a field that changes from one
// interval of a flow to the next (a counter or the timestamp). The result of
// such a filter cannot be remembered per flow.
func (f *Filter) Varies() bool { return f.varies }

// Match evaluates the filter on r. An evaluation error (for example the
// cost limit) is returned with false.
func (f *Filter) Match(r *flow.Record) (bool, error) {
	out, _, err := f.prg.Eval(activation{r})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, errors.New("the filter did not yield a bool")
	}
	return b, nil
}

// activation resolves the filter's variables straight from a record, with
// no map built per evaluation.
type activation struct{ r *flow.Record }

func (a activation) ResolveName(name string) (any, bool) {
	f, ok := flow.LookupField(name)
	if !ok {
		return nil, false
	}
	return f.Value(a.r), true
}

func (a activation) Parent() interpreter.Activation { return nil }
