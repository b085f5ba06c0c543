package api

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
)

// openapiYAML is the API's OpenAPI 3.1 document, served at /openapi.yaml and
// rendered at /docs. A test checks it lists exactly the router's routes.
//
//go:embed openapi.yaml
var openapiYAML []byte

func (s *Server) openapiSpec(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", openapiYAML)
}

func (s *Server) docs(c *gin.Context) {
	page, err := docsHTML()
	if err != nil {
		s.fail(c, err)
		return
	}
	// The page is self-contained: nothing may be loaded from anywhere.
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", page)
}

// spec is the part of an OpenAPI document that the docs page and the tests read.
type spec struct {
	OpenAPI string `yaml:"openapi"`
	Info    struct {
		Title       string `yaml:"title"`
		Version     string `yaml:"version"`
		Description string `yaml:"description"`
	} `yaml:"info"`
	Tags []struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
	} `yaml:"tags"`
	Paths      yaml.Node `yaml:"paths"` // a node, to keep the document's order
	Components struct {
		Parameters    map[string]parameter   `yaml:"parameters"`
		RequestBodies map[string]requestBody `yaml:"requestBodies"`
		Responses     map[string]response    `yaml:"responses"`
	} `yaml:"components"`
}

type pathItem struct {
	Parameters []parameter `yaml:"parameters"`
	Get        *operation  `yaml:"get"`
	Post       *operation  `yaml:"post"`
	Put        *operation  `yaml:"put"`
	Patch      *operation  `yaml:"patch"`
	Delete     *operation  `yaml:"delete"`
}

type operation struct {
	OperationID string              `yaml:"operationId"`
	Summary     string              `yaml:"summary"`
	Description string              `yaml:"description"`
	Tags        []string            `yaml:"tags"`
	DevOnly     bool                `yaml:"x-dev-only"`
	Security    *[]map[string]any   `yaml:"security"` // nil: the document's default (API key)
	Parameters  []parameter         `yaml:"parameters"`
	RequestBody *requestBody        `yaml:"requestBody"`
	Responses   map[string]response `yaml:"responses"`
}

type parameter struct {
	Ref         string `yaml:"$ref"`
	Name        string `yaml:"name"`
	In          string `yaml:"in"`
	Description string `yaml:"description"`
	Required    bool   `yaml:"required"`
	Schema      schema `yaml:"schema"`
}

type requestBody struct {
	Ref         string               `yaml:"$ref"`
	Description string               `yaml:"description"`
	Required    bool                 `yaml:"required"`
	Content     map[string]mediaType `yaml:"content"`
}

type response struct {
	Ref         string               `yaml:"$ref"`
	Description string               `yaml:"description"`
	Headers     map[string]any       `yaml:"headers"`
	Content     map[string]mediaType `yaml:"content"`
}

type mediaType struct {
	Schema schema `yaml:"schema"`
}

type schema struct {
	Ref  string `yaml:"$ref"`
	Type any    `yaml:"type"`
}

// Name is a schema's component name, or its type when it is inline.
func (s schema) Name() string {
	if s.Ref != "" {
		return s.Ref[strings.LastIndex(s.Ref, "/")+1:]
	}
	if s.Type == nil {
		return "any"
	}
	return fmt.Sprint(s.Type)
}

// specOp is one operation with its path-level parameters and its $refs resolved.
type specOp struct {
	Method, Path string // "GET", "/v1/events/{id}"
	*operation
	Params    []parameter
	Body      *requestBody
	Responses []statusResponse
}

type statusResponse struct {
	Status string
	response
}

// Public reports whether the operation needs no API key.
func (o specOp) Public() bool { return o.Security != nil && len(*o.Security) == 0 }

// BodySchemas lists the request body's media types and schemas.
func (o specOp) BodySchemas() []string {
	if o.Body == nil {
		return nil
	}
	return contentSchemas(o.Body.Content)
}

func contentSchemas(content map[string]mediaType) []string {
	var out []string
	for mt, m := range content {
		out = append(out, mt+": "+m.Schema.Name())
	}
	sort.Strings(out)
	return out
}

func parseSpec(doc []byte) (*spec, []specOp, error) {
	var sp spec
	if err := yaml.Unmarshal(doc, &sp); err != nil {
		return nil, nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if sp.Paths.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("openapi.yaml: paths is not a map")
	}
	ref := func(r string) string { return r[strings.LastIndex(r, "/")+1:] }
	var ops []specOp
	for i := 0; i+1 < len(sp.Paths.Content); i += 2 {
		path := sp.Paths.Content[i].Value
		var item pathItem
		if err := sp.Paths.Content[i+1].Decode(&item); err != nil {
			return nil, nil, fmt.Errorf("openapi.yaml: %s: %w", path, err)
		}
		for _, m := range []struct {
			method string
			op     *operation
		}{{"GET", item.Get}, {"POST", item.Post}, {"PUT", item.Put}, {"PATCH", item.Patch}, {"DELETE", item.Delete}} {
			if m.op == nil {
				continue
			}
			o := specOp{Method: m.method, Path: path, operation: m.op, Body: m.op.RequestBody}
			for _, p := range append(append([]parameter{}, item.Parameters...), m.op.Parameters...) {
				if p.Ref != "" {
					p = sp.Components.Parameters[ref(p.Ref)]
				}
				o.Params = append(o.Params, p)
			}
			if o.Body != nil && o.Body.Ref != "" {
				b := sp.Components.RequestBodies[ref(o.Body.Ref)]
				o.Body = &b
			}
			for status, r := range m.op.Responses {
				if r.Ref != "" {
					r = sp.Components.Responses[ref(r.Ref)]
				}
				o.Responses = append(o.Responses, statusResponse{status, r})
			}
			sort.Slice(o.Responses, func(i, j int) bool { return o.Responses[i].Status < o.Responses[j].Status })
			ops = append(ops, o)
		}
	}
	return &sp, ops, nil
}

// docsHTML renders the embedded document as one page, once.
var docsHTML = sync.OnceValues(func() ([]byte, error) {
	sp, ops, err := parseSpec(openapiYAML)
	if err != nil {
		return nil, err
	}
	type group struct {
		Name, Description string
		Ops               []specOp
	}
	var groups []*group
	byTag := map[string]*group{}
	for _, t := range sp.Tags {
		g := &group{Name: t.Name, Description: t.Description}
		groups = append(groups, g)
		byTag[t.Name] = g
	}
	for _, o := range ops {
		tag := "Other"
		if len(o.Tags) > 0 {
			tag = o.Tags[0]
		}
		g := byTag[tag]
		if g == nil {
			g = &group{Name: tag}
			groups = append(groups, g)
			byTag[tag] = g
		}
		g.Ops = append(g.Ops, o)
	}
	var buf bytes.Buffer
	err = docsTemplate.Execute(&buf, map[string]any{"Spec": sp, "Groups": groups})
	return buf.Bytes(), err
})

// code escapes s and shows `backticked` spans as code, the only markup the
// document's descriptions use on this page.
func code(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(part) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(part))
		}
	}
	return template.HTML(b.String())
}

func anchor(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "-")) }

var docsTemplate = template.Must(template.New("docs").Funcs(template.FuncMap{"code": code, "anchor": anchor, "lower": strings.ToLower, "contentSchemas": contentSchemas}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Spec.Info.Title}}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1, h2 { margin-bottom: .3rem; }
h2 { border-bottom: 1px solid #ddd; margin-top: 2.5rem; }
.desc { white-space: pre-line; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; font-size: 90%; }
.op { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0; padding: .6rem 1rem; }
.op h3 { margin: 0; font-size: 1rem; font-family: ui-monospace, monospace; }
.method { display: inline-block; min-width: 4.5em; font-weight: bold; }
.get { color: #1a7f37; } .post { color: #0550ae; } .put, .patch { color: #9a6700; } .delete { color: #cf222e; }
.summary { font-weight: 600; margin: .3rem 0; }
.badge { font-size: 75%; border: 1px solid #999; border-radius: 3px; padding: 0 .3em; margin-left: .5em; font-family: system-ui, sans-serif; font-weight: normal; }
table { border-collapse: collapse; margin: .4rem 0; }
th, td { text-align: left; vertical-align: top; padding: .15rem .8rem .15rem 0; }
th { font-weight: 600; font-size: 90%; color: #555; }
</style>
</head>
<body>
<h1>{{.Spec.Info.Title}} <small>v{{.Spec.Info.Version}}</small></h1>
<p>OpenAPI {{.Spec.OpenAPI}} document: <a href="openapi.yaml">openapi.yaml</a></p>
<div class="desc">{{code .Spec.Info.Description}}</div>
<ul>{{range .Groups}}{{if .Ops}}<li><a href="#{{anchor .Name}}">{{.Name}}</a></li>{{end}}{{end}}</ul>
{{range .Groups}}{{if .Ops}}
<h2 id="{{anchor .Name}}">{{.Name}}</h2>
<p>{{code .Description}}</p>
{{range .Ops}}
<div class="op" id="{{.OperationID}}">
<h3><span class="method {{lower .Method}}">{{.Method}}</span> {{.Path}}{{if .Public}}<span class="badge">no API key</span>{{end}}{{if .DevOnly}}<span class="badge">dev only</span>{{end}}</h3>
<div class="summary">{{.Summary}}</div>
{{with .Description}}<div class="desc">{{code .}}</div>{{end}}
{{with .Params}}<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>
{{range .}}<tr><td><code>{{.Name}}</code>{{if .Required}} *{{end}}</td><td>{{.In}}</td><td>{{.Schema.Name}}</td><td>{{code .Description}}</td></tr>
{{end}}</table>{{end}}
{{with .BodySchemas}}<table><tr><th>request body</th></tr>{{range .}}<tr><td>{{.}}</td></tr>{{end}}</table>{{end}}
<table><tr><th>status</th><th>body</th><th></th></tr>
{{range .Responses}}<tr><td>{{.Status}}</td><td>{{range $i, $s := contentSchemas .Content}}{{if $i}}, {{end}}{{$s}}{{end}}</td><td>{{code .Description}}</td></tr>
{{end}}</table>
</div>
{{end}}{{end}}{{end}}
</body>
</html>
`))
