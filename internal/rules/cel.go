package rules

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// The bounds every CEL program in hookflow runs under, endpoint filters and
// automation expressions alike: tenants write these expressions, so none may cost
// another tenant more than a bounded slice of a worker.
const (
	// MaxStringBytes is the largest string or bytes value an operation may make.
	// cel-go's cost limit is checked after an operation, and string concatenation
	// inside nested macros was measured to build a 100,000,000-character string
	// (and take a worker from 255 MB to 1 GB) under the limit. A cap on every
	// value made stops that at the first operation past it.
	MaxStringBytes = 1 << 20
	// MaxListSize is the most elements a list or map an operation makes may hold.
	MaxListSize = 100_000
	// CostLimit bounds the work of one evaluation in CEL's abstract cost units
	// (roughly one per operation or value visited). A typical filter costs under
	// ten; one that checks a field of every item in a 10,000-item list costs about
	// 70,000. A runaway filter reaches the limit within tens of milliseconds, so
	// the limit, not the wall-clock EvalTimeout, is what normally stops it, and
	// the outcome is the same on a busy worker as on an idle one.
	CostLimit = 100_000
	// EvalTimeout is a wall-clock backstop for one evaluation. The cost limit
	// alone does not bound time well: cel-go's cost tracking is itself quadratic
	// in the length of a single comprehension (its value stack grows with every
	// iteration), so `event.data.items.all(...)` over a long list takes hundreds
	// of milliseconds before it reaches the limit, more on a loaded worker.
	EvalTimeout = time.Second
	// interruptEvery is how many comprehension iterations run between checks of
	// the context, so a cancelled context (a deadline, a shutdown) stops an
	// evaluation promptly.
	interruptEvery = 100
	// maxComprehensionNesting rejects at compile time the nested macros
	// (all/exists/map/filter) whose cost grows as a power of the input size;
	// three levels cover walking orders → items → tags.
	maxComprehensionNesting = 3
	// recursionLimit bounds the parser's nesting, e.g. of parentheses.
	recursionLimit = 100
)

// NewCELEnv returns a CEL environment with the given variables and the library and
// validators every hookflow expression shares: the standard library, the string
// extensions (with replace and join bounded by MaxStringBytes before they
// allocate, and without format, whose output cannot be bounded before it is made),
// numeric comparisons across int and double (JSON numbers arrive as doubles), and
// save-time checks of literals and of macro nesting.
func NewCELEnv(vars ...cel.EnvOption) (*cel.Env, error) {
	opts := append([]cel.EnvOption{}, vars...)
	opts = append(opts,
		ext.Strings(),
		boundedStrings(),
		// `event.data.rating >= 4` must work on a double.
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxExpressionLen),
		cel.ParserRecursionLimit(recursionLimit),
		// Report mistakes in literals when the expression is saved, not on every event.
		cel.ASTValidators(
			cel.ValidateRegexLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateDurationLiterals(),
			cel.ValidateComprehensionNestingLimit(maxComprehensionNesting),
			refusedFunctions{"format": "format() is not available: its output cannot be bounded before it is made; join strings with +"},
		),
	)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	return env, nil
}

// NewProgram plans a checked expression with the shared bounds: the cost limit,
// context checks inside comprehensions, and the size cap on every value an
// operation makes.
func NewProgram(env *cel.Env, checked *cel.Ast) (cel.Program, error) {
	// Do not add cel.OptTrackState or cel.OptExhaustiveEval here: some cel-go
	// versions silently stop enforcing the cost limit with them
	// (cel-expr/cel-go#1425). TestCostLimit would catch it.
	return env.Program(checked,
		cel.CostLimit(CostLimit),
		cel.InterruptCheckFrequency(interruptEvery),
		cel.CustomDecoratorV2(boundValues),
	)
}

// Eval evaluates prg with vars under EvalTimeout (or timeout, when positive) and
// ctx. When ctx ended, the error wraps ctx.Err(), so a caller can tell a shutdown
// (retry elsewhere) from an expression that broke its bounds (final).
func Eval(ctx context.Context, prg cel.Program, vars map[string]any, timeout time.Duration) (ref.Val, error) {
	if timeout <= 0 {
		timeout = EvalTimeout
	}
	evalCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, _, err := prg.ContextEval(evalCtx, vars)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%w: %w", err, ctx.Err())
		case evalCtx.Err() != nil:
			return nil, fmt.Errorf("took longer than %s", timeout)
		}
		return nil, err
	}
	return out, nil
}

// boundValues wraps every function call (operators included) so that a string,
// bytes, list or map it makes past the caps ends the evaluation with an error.
func boundValues(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	if call, ok := i.(interpreter.InterpretableCall); ok {
		return boundedCall{call}, nil
	}
	return i, nil
}

type boundedCall struct{ interpreter.InterpretableCall }

func (b boundedCall) Eval(act interpreter.Activation) ref.Val {
	return checkSize(b.InterpretableCall.Eval(act))
}

func (b boundedCall) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	return checkSize(b.InterpretableCall.Exec(frame))
}

func checkSize(v ref.Val) ref.Val {
	switch x := v.(type) {
	case types.String:
		if len(x) > MaxStringBytes {
			return types.NewErr("a string of %d bytes is over the limit of %d bytes", len(x), MaxStringBytes)
		}
	case types.Bytes:
		if len(x) > MaxStringBytes {
			return types.NewErr("a bytes value of %d bytes is over the limit of %d bytes", len(x), MaxStringBytes)
		}
	case traits.Lister:
		if n, ok := x.Size().(types.Int); ok && n > MaxListSize {
			return types.NewErr("a list of %d elements is over the limit of %d", n, MaxListSize)
		}
	case traits.Mapper:
		if n, ok := x.Size().(types.Int); ok && n > MaxListSize {
			return types.NewErr("a map of %d entries is over the limit of %d", n, MaxListSize)
		}
	}
	return v
}

// boundedStrings redefines the string extensions whose result can be far larger
// than their inputs ('s.replace("", s)' is quadratic: 100 KB made 10 GB in 47 s)
// so that they refuse before allocating. The overload ids and signatures are the
// extension's own, which cel-go lets a later declaration rebind.
func boundedStrings() cel.EnvOption {
	return cel.Lib(boundedStringsLib{})
}

type boundedStringsLib struct{}

func (boundedStringsLib) ProgramOptions() []cel.ProgramOption { return nil }

func (boundedStringsLib) CompileOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function("replace",
			cel.MemberOverload("string_replace_string_string",
				[]*cel.Type{cel.StringType, cel.StringType, cel.StringType}, cel.StringType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return replace(args[0], args[1], args[2], types.Int(-1))
				})),
			cel.MemberOverload("string_replace_string_string_int",
				[]*cel.Type{cel.StringType, cel.StringType, cel.StringType, cel.IntType}, cel.StringType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return replace(args[0], args[1], args[2], args[3])
				}))),
		cel.Function("join",
			cel.MemberOverload("list_join", []*cel.Type{cel.ListType(cel.StringType)}, cel.StringType,
				cel.UnaryBinding(func(list ref.Val) ref.Val { return join(list, types.String("")) })),
			cel.MemberOverload("list_join_string", []*cel.Type{cel.ListType(cel.StringType), cel.StringType}, cel.StringType,
				cel.BinaryBinding(join))),
	}
}

func replace(target, old, repl, limit ref.Val) ref.Val {
	s, ok1 := target.(types.String)
	o, ok2 := old.(types.String)
	r, ok3 := repl.(types.String)
	n, ok4 := limit.(types.Int)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return types.NewErr("replace: want (string, string, string[, int])")
	}
	count := int64(strings.Count(string(s), string(o))) // counts runes + 1 for ""
	if n >= 0 && int64(n) < count {
		count = int64(n)
	}
	if size := int64(len(s)) + count*(int64(len(r))-int64(len(o))); size > MaxStringBytes {
		return types.NewErr("replace would make a string of %d bytes, over the limit of %d bytes", size, MaxStringBytes)
	}
	return types.String(strings.Replace(string(s), string(o), string(r), int(n)))
}

func join(list, sep ref.Val) ref.Val {
	l, ok1 := list.(traits.Lister)
	d, ok2 := sep.(types.String)
	if !ok1 || !ok2 {
		return types.NewErr("join: want a list of strings and a separator")
	}
	n, _ := l.Size().(types.Int)
	parts := make([]string, 0, n)
	size := 0
	for it := l.Iterator(); it.HasNext() == types.True; {
		v := it.Next()
		s, ok := v.(types.String)
		if !ok {
			return types.NewErr("join: list holds %s, want strings", v.Type())
		}
		if len(parts) > 0 {
			size += len(d)
		}
		if size += len(s); size > MaxStringBytes {
			return types.NewErr("join would make a string over the limit of %d bytes", MaxStringBytes)
		}
		parts = append(parts, string(s))
	}
	return types.String(strings.Join(parts, string(d)))
}

// refusedFunctions rejects calls to the named functions at compile time, each with
// its reason.
type refusedFunctions map[string]string

func (refusedFunctions) Name() string { return "hookflow.refused_functions" }

func (r refusedFunctions) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	for _, call := range ast.MatchDescendants(ast.NavigateAST(a), ast.KindMatcher(ast.CallKind)) {
		if why, ok := r[call.AsCall().FunctionName()]; ok {
			iss.ReportErrorAtID(call.ID(), "%s", why)
		}
	}
}
