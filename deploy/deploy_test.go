package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// The roles a deployment may run. `dev` (embedded Temporal, SQLite) and
// `rotate-encryption-key` (an operator's one-off) have no place in a manifest.
var deployRoles = []string{"server", "worker", "migrate", "temporal-setup"}

// Environment variables that are not hookflow's but are fine to set: the Go runtime's
// and OpenTelemetry's standard ones. Everything else must be in the README's table.
var standardEnv = []string{
	"GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", "TZ",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
}

// requiredEnv is what each role refuses to start without (internal/config).
var requiredEnv = map[string][]string{
	"server":         {"DATABASE_URL", "TEMPORAL_ADDRESS", "HOOKFLOW_ENCRYPTION_KEY"},
	"worker":         {"DATABASE_URL", "TEMPORAL_ADDRESS", "HOOKFLOW_ENCRYPTION_KEY"},
	"migrate":        {"DATABASE_URL"},
	"temporal-setup": {"TEMPORAL_ADDRESS"},
}

// binary is where deploy/Dockerfile puts hookflow, and the image's ENTRYPOINT.
const binary = "/usr/local/bin/hookflow"

// ---------------------------------------------------------------------------
// Facts read from the rest of the repository, so the checks follow the code.

// subcommands returns the command names cmd/hookflow's run switch accepts.
func subcommands(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../cmd/hookflow/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("cmd/hookflow sources: %v", err)
	}
	cmds := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "run" || fn.Recv != nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				cc, ok := n.(*ast.CaseClause)
				if !ok {
					return true
				}
				for _, e := range cc.List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						cmds[s] = true
					}
				}
				return true
			})
		}
	}
	if !cmds["server"] || !cmds["worker"] {
		t.Fatalf("found no server/worker case in cmd/hookflow's run (got %v): has main.go changed shape?", cmds)
	}
	return cmds
}

// checkSubcommand reports whether a deployment file may run `hookflow <cmd>`.
func checkSubcommand(t *testing.T, where, cmd string, known map[string]bool) {
	t.Helper()
	switch {
	case !slices.Contains(deployRoles, cmd):
		t.Errorf("%s: runs %q; a deployment runs one of %v", where, cmd, deployRoles)
	case !known[cmd]:
		t.Errorf("%s: hookflow has no subcommand %q", where, cmd)
	}
}

// configTable parses the README's configuration table: variable → default column.
func configTable(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no '## Configuration' section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	name := regexp.MustCompile("^`([A-Z][A-Z0-9_]*)`$")
	vars := map[string]string{}
	for line := range strings.SplitSeq(section, "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) < 3 {
			continue
		}
		if m := name.FindStringSubmatch(strings.TrimSpace(cells[0])); m != nil {
			vars[m[1]] = strings.TrimSpace(cells[1])
		}
	}
	for _, must := range []string{"DATABASE_URL", "HOOKFLOW_SHUTDOWN_GRACE", "HOOKFLOW_ENCRYPTION_KEY"} {
		if _, ok := vars[must]; !ok {
			t.Fatalf("README config table: %s not found (parsed %d variables)", must, len(vars))
		}
	}
	return vars
}

func documented(vars map[string]string, name string) bool {
	_, ok := vars[name]
	return ok || slices.Contains(standardEnv, name)
}

// defaultShutdownGrace is the README's default for HOOKFLOW_SHUTDOWN_GRACE.
func defaultShutdownGrace(t *testing.T, vars map[string]string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(strings.Trim(vars["HOOKFLOW_SHUTDOWN_GRACE"], "`"))
	if err != nil {
		t.Fatalf("README default of HOOKFLOW_SHUTDOWN_GRACE: %v", err)
	}
	return d
}

// ---------------------------------------------------------------------------
// Kubernetes

const k8sDir = "k8s"

type manifest struct {
	where string // file#document
	obj   runtime.Object
}

// manifestFiles lists k8s/*.yaml except kustomization.yaml.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			out = append(out, filepath.Base(f))
		}
	}
	if len(out) == 0 {
		t.Fatal("no manifests in deploy/k8s")
	}
	return out
}

// loadManifests decodes every document with client-go's scheme in strict mode: an
// unknown or misspelt field, a duplicate key or a wrong type is an error, as it would
// be for `kubectl apply --validate=strict`.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	dec := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	var out []manifest
	for _, name := range manifestFiles(t) {
		data, err := os.ReadFile(filepath.Join(k8sDir, name))
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 1; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if onlyComments(doc) {
				continue
			}
			where := fmt.Sprintf("%s#%d", name, i)
			obj, _, err := dec.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			out = append(out, manifest{where, obj})
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func onlyComments(doc []byte) bool {
	for line := range strings.SplitSeq(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}

func find[T runtime.Object](ms []manifest) []T {
	var out []T
	for _, m := range ms {
		if o, ok := m.obj.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// workload is a pod template and what owns it.
type workload struct {
	kind, name string
	pod        corev1.PodSpec
	podLabels  map[string]string
}

func workloads(t *testing.T, ms []manifest) []workload {
	t.Helper()
	var out []workload
	for _, d := range find[*appsv1.Deployment](ms) {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Template.Spec, d.Spec.Template.Labels})
	}
	for _, j := range find[*batchv1.Job](ms) {
		out = append(out, workload{"Job", j.Name, j.Spec.Template.Spec, j.Spec.Template.Labels})
	}
	if len(out) == 0 {
		t.Fatal("no Deployments or Jobs")
	}
	return out
}

// role is the hookflow subcommand a container runs: its args after the image's
// ENTRYPOINT, or command[1] when command replaces the ENTRYPOINT with the binary.
func role(c corev1.Container) (string, error) {
	args := c.Args
	if len(c.Command) > 0 {
		if c.Command[0] != binary {
			return "", fmt.Errorf("command %v does not run %s (and the image has no shell)", c.Command, binary)
		}
		args = append(slices.Clone(c.Command[1:]), c.Args...)
	}
	if len(args) == 0 {
		return "", errors.New("no subcommand in args: the image's default CMD would decide")
	}
	return args[0], nil
}

func TestK8sManifestsDecodeStrictly(t *testing.T) {
	ms := loadManifests(t)
	kinds := map[string]int{}
	for _, m := range ms {
		acc, err := metaAccessor(m.obj)
		if err != nil {
			t.Fatalf("%s: %v", m.where, err)
		}
		// Namespace-agnostic: the namespace comes from kustomize or -n.
		if acc.GetNamespace() != "" {
			t.Errorf("%s: metadata.namespace %q; leave it to kustomize or -n", m.where, acc.GetNamespace())
		}
		if acc.GetName() == "" {
			t.Errorf("%s: no metadata.name", m.where)
		}
		kinds[fmt.Sprintf("%T", m.obj)]++
	}
	for _, want := range []runtime.Object{
		&corev1.ConfigMap{}, &corev1.Secret{}, &corev1.Service{}, &appsv1.Deployment{},
		&batchv1.Job{}, &autoscalingv2.HorizontalPodAutoscaler{},
	} {
		if kinds[fmt.Sprintf("%T", want)] == 0 {
			t.Errorf("no %T among the manifests", want)
		}
	}
}

func metaAccessor(obj runtime.Object) (metav1.Object, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no ObjectMeta", obj)
	}
	return o, nil
}

// kustomization is the part of kustomize's schema these manifests use; decoding it
// strictly catches a misspelt key that kustomize would otherwise reject at apply.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.Kind != "Kustomization" || !strings.HasPrefix(k.APIVersion, "kustomize.config.k8s.io/") {
		t.Errorf("kustomization.yaml: apiVersion/kind %s/%s", k.APIVersion, k.Kind)
	}
	if k.Namespace != "" {
		t.Errorf("kustomization.yaml: namespace %q; the manifests are namespace-agnostic", k.Namespace)
	}
	listed := slices.Clone(k.Resources)
	sort.Strings(listed)
	for i := 1; i < len(listed); i++ {
		if listed[i] == listed[i-1] {
			t.Errorf("kustomization.yaml lists %s twice", listed[i])
		}
	}
	present := manifestFiles(t)
	for _, f := range present {
		if !slices.Contains(listed, f) {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
	for _, f := range listed {
		if !slices.Contains(present, f) {
			t.Errorf("kustomization.yaml lists %s, which is not in deploy/k8s", f)
		}
	}
	// Every image the workloads name is one the kustomization can retarget.
	images := map[string]bool{}
	for _, im := range k.Images {
		images[im.Name] = true
	}
	for _, w := range workloads(t, loadManifests(t)) {
		for _, c := range w.pod.Containers {
			if !images[c.Image] {
				t.Errorf("%s %s: image %q has no images: entry in kustomization.yaml", w.kind, w.name, c.Image)
			}
		}
	}
}

// envOf resolves a container's environment: names → values, where values from a
// Secret are "<secret>" and computed ones "<computed>". References to a missing
// ConfigMap, Secret or key are errors, as they would keep the pod from starting.
func envOf(t *testing.T, where string, c corev1.Container, cms map[string]*corev1.ConfigMap, secrets map[string]*corev1.Secret) map[string]string {
	t.Helper()
	env := map[string]string{}
	secretKeys := func(s *corev1.Secret) []string {
		var keys []string
		for k := range s.StringData {
			keys = append(keys, k)
		}
		for k := range s.Data {
			keys = append(keys, k)
		}
		return keys
	}
	for _, from := range c.EnvFrom {
		if from.Prefix != "" {
			t.Errorf("%s: envFrom prefix %q renames hookflow's variables", where, from.Prefix)
		}
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := cms[from.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom ConfigMap %q is not among the manifests", where, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		case from.SecretRef != nil:
			s, ok := secrets[from.SecretRef.Name]
			if !ok {
				t.Errorf("%s: envFrom Secret %q is not among the manifests", where, from.SecretRef.Name)
				continue
			}
			for _, k := range secretKeys(s) {
				env[k] = "<secret>"
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := cms[ref.Name]
			if !ok {
				t.Errorf("%s: env %s: ConfigMap %q is not among the manifests", where, e.Name, ref.Name)
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Errorf("%s: env %s: ConfigMap %q has no key %q", where, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, ok := secrets[ref.Name]
			if !ok {
				t.Errorf("%s: env %s: Secret %q is not among the manifests", where, e.Name, ref.Name)
				continue
			}
			if !slices.Contains(secretKeys(s), ref.Key) {
				t.Errorf("%s: env %s: Secret %q has no key %q", where, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = "<secret>"
		default:
			env[e.Name] = "<computed>"
		}
	}
	return env
}

func byName[T metav1.Object](objs []T) map[string]T {
	m := map[string]T{}
	for _, o := range objs {
		m[o.GetName()] = o
	}
	return m
}

func TestK8sContainers(t *testing.T) {
	ms := loadManifests(t)
	known := subcommands(t)
	vars := configTable(t)
	cms := byName(find[*corev1.ConfigMap](ms))
	secrets := byName(find[*corev1.Secret](ms))
	roles := map[string]int{}
	for _, w := range workloads(t, ms) {
		if len(w.pod.InitContainers) > 0 {
			t.Errorf("%s %s: init containers are not checked here; add them to this test", w.kind, w.name)
		}
		for _, c := range w.pod.Containers {
			where := fmt.Sprintf("%s %s container %s", w.kind, w.name, c.Name)
			r, err := role(c)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			checkSubcommand(t, where, r, known)
			roles[r]++
			switch {
			case w.kind == "Deployment" && r != "server" && r != "worker":
				t.Errorf("%s: a Deployment runs server or worker, not %q (it exits)", where, r)
			case w.kind == "Job" && (r == "server" || r == "worker"):
				t.Errorf("%s: a Job runs a one-shot command, not %q", where, r)
			}

			// Requests are what the scheduler and the HPA work from.
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
					t.Errorf("%s: no %s request", where, res)
				}
			}
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
				t.Errorf("%s: no memory limit", where)
			}

			checkSecurity(t, where, w.pod, c)

			env := envOf(t, where, c, cms, secrets)
			for _, name := range requiredEnv[r] {
				if _, ok := env[name]; !ok {
					t.Errorf("%s: %s needs %s", where, r, name)
				}
			}
			if addr, ok := env["HOOKFLOW_HTTP_ADDR"]; (r == "server" || r == "worker") && (!ok || !strings.HasPrefix(addr, "0.0.0.0:")) {
				t.Errorf("%s: HOOKFLOW_HTTP_ADDR %q: probes and Services reach the pod's IP, listen on 0.0.0.0", where, addr)
			}
			for _, e := range c.Env {
				if !documented(vars, e.Name) {
					t.Errorf("%s: env %s is not in README.md's config table", where, e.Name)
				}
			}

			if w.kind == "Deployment" {
				checkProbes(t, where, c)
				checkGrace(t, where, w.pod, c, env, vars)
			}
		}
	}
	for _, r := range deployRoles {
		if roles[r] == 0 {
			t.Errorf("no workload runs hookflow %s", r)
		}
	}
}

// checkSecurity: non-root with a numeric uid (the image's USER is the name
// "nonroot", which the kubelet cannot verify for runAsNonRoot), read-only root,
// no privilege escalation, no capabilities.
func checkSecurity(t *testing.T, where string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	var nonRoot *bool
	var uid *int64
	if p := pod.SecurityContext; p != nil {
		nonRoot, uid = p.RunAsNonRoot, p.RunAsUser
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no securityContext", where)
		return
	}
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", where)
	}
	if uid == nil || *uid == 0 {
		t.Errorf("%s: runAsUser must be a non-zero uid (the image's user is a name)", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities do not drop ALL", where)
	} else if len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: adds capabilities %v", where, sc.Capabilities.Add)
	}
}

// checkProbes: readiness on /readyz, liveness on /healthz (so a database outage
// makes pods unready instead of restarting them), both on a port the container
// declares.
func checkProbes(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", where, p.kind)
			continue
		}
		get := p.probe.HTTPGet
		if get.Path != p.path {
			t.Errorf("%s: %s path %q, want %q", where, p.kind, get.Path, p.path)
		}
		if !declaresPort(c, get.Port.String()) {
			t.Errorf("%s: %s port %s is not a port of the container", where, p.kind, get.Port.String())
		}
	}
}

func declaresPort(c corev1.Container, port string) bool {
	for _, p := range c.Ports {
		if p.Name == port || strconv.Itoa(int(p.ContainerPort)) == port {
			return true
		}
	}
	return false
}

// checkGrace: the kubelet's SIGKILL must come after the preStop sleep plus
// HOOKFLOW_SHUTDOWN_GRACE, or in-flight requests and activities are cut off.
func checkGrace(t *testing.T, where string, pod corev1.PodSpec, c corev1.Container, env, vars map[string]string) {
	t.Helper()
	grace := defaultShutdownGrace(t, vars)
	if v, ok := env["HOOKFLOW_SHUTDOWN_GRACE"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Errorf("%s: HOOKFLOW_SHUTDOWN_GRACE %q: %v", where, v, err)
			return
		}
		grace = d
	}
	need := grace
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		need += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	term := 30 * time.Second // Kubernetes' default
	if pod.TerminationGracePeriodSeconds != nil {
		term = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if term <= need {
		t.Errorf("%s: terminationGracePeriodSeconds %v does not exceed preStop + HOOKFLOW_SHUTDOWN_GRACE = %v", where, term, need)
	}
}

func TestK8sEnvDocumented(t *testing.T) {
	ms := loadManifests(t)
	vars := configTable(t)
	for _, cm := range find[*corev1.ConfigMap](ms) {
		for k := range cm.Data {
			if !documented(vars, k) {
				t.Errorf("ConfigMap %s: %s is not in README.md's config table", cm.Name, k)
			}
		}
	}
	for _, s := range find[*corev1.Secret](ms) {
		for k := range s.StringData {
			if !documented(vars, k) {
				t.Errorf("Secret %s: %s is not in README.md's config table", s.Name, k)
			}
		}
		for k := range s.Data {
			if !documented(vars, k) {
				t.Errorf("Secret %s: %s is not in README.md's config table", s.Name, k)
			}
		}
	}
}

// TestK8sWiring checks the references between objects that kubectl accepts but
// that leave something unreachable: Service and PDB selectors, the Service's target
// port, the HPA's target.
func TestK8sWiring(t *testing.T) {
	ms := loadManifests(t)
	ws := workloads(t, ms)
	deployments := byName(find[*appsv1.Deployment](ms))
	matching := func(sel map[string]string) []workload {
		var out []workload
		for _, w := range ws {
			if w.kind == "Deployment" && len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(w.podLabels)) {
				out = append(out, w)
			}
		}
		return out
	}
	for _, d := range deployments {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: selector does not match its pod template (%v)", d.Name, err)
		}
	}
	for _, s := range find[*corev1.Service](ms) {
		targets := matching(s.Spec.Selector)
		if len(targets) == 0 {
			t.Errorf("Service %s: selector %v matches no Deployment", s.Name, s.Spec.Selector)
			continue
		}
		for _, w := range targets {
			for _, c := range w.pod.Containers {
				if r, _ := role(c); r != "server" {
					t.Errorf("Service %s selects %s, which runs %q: only servers serve the API", s.Name, w.name, r)
				}
			}
			for _, p := range s.Spec.Ports {
				if !slices.ContainsFunc(w.pod.Containers, func(c corev1.Container) bool { return declaresPort(c, p.TargetPort.String()) }) {
					t.Errorf("Service %s: targetPort %s is not a port of %s", s.Name, p.TargetPort.String(), w.name)
				}
			}
		}
	}
	for _, h := range find[*autoscalingv2.HorizontalPodAutoscaler](ms) {
		ref := h.Spec.ScaleTargetRef
		d, ok := deployments[ref.Name]
		if ref.Kind != "Deployment" || !ok {
			t.Errorf("HPA %s: target %s %s is not among the manifests", h.Name, ref.Kind, ref.Name)
			continue
		}
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas although HPA %s scales it: every apply would reset the count", d.Name, h.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			t.Errorf("HPA %s: minReplicas below 2 leaves a single worker", h.Name)
		}
	}
	for _, p := range find[*policyv1.PodDisruptionBudget](ms) {
		if p.Spec.Selector == nil || len(matching(p.Spec.Selector.MatchLabels)) == 0 {
			t.Errorf("PodDisruptionBudget %s: selector matches no Deployment", p.Name)
		}
	}
}

// ---------------------------------------------------------------------------
// docker-compose.yml

// compose is the part of the Compose specification the file uses. Decoding into it
// strictly rejects a misspelt or unsupported key; add fields here as the file grows.
type compose struct {
	Name     string                     `json:"name"`
	Services map[string]composeService  `json:"services"`
	Volumes  map[string]*composeVolume  `json:"volumes,omitempty"`
	Networks map[string]*composeNetwork `json:"networks,omitempty"`
}

type composeService struct {
	Image           string                       `json:"image,omitempty"`
	Build           *composeBuild                `json:"build,omitempty"`
	Command         []string                     `json:"command,omitempty"` // exec form: the image has no shell
	Entrypoint      []string                     `json:"entrypoint,omitempty"`
	Environment     map[string]string            `json:"environment,omitempty"`
	EnvFile         []string                     `json:"env_file,omitempty"`
	Ports           []string                     `json:"ports,omitempty"`
	Expose          []string                     `json:"expose,omitempty"`
	DependsOn       map[string]composeDependency `json:"depends_on,omitempty"`
	Healthcheck     *composeHealthcheck          `json:"healthcheck,omitempty"`
	Restart         string                       `json:"restart,omitempty"`
	Volumes         []string                     `json:"volumes,omitempty"`
	Deploy          *composeDeploy               `json:"deploy,omitempty"`
	StopGracePeriod string                       `json:"stop_grace_period,omitempty"`
	StopSignal      string                       `json:"stop_signal,omitempty"`
	User            string                       `json:"user,omitempty"`
	ReadOnly        bool                         `json:"read_only,omitempty"`
	Tmpfs           []string                     `json:"tmpfs,omitempty"`
	Networks        []string                     `json:"networks,omitempty"`
	Labels          map[string]string            `json:"labels,omitempty"`
	Init            bool                         `json:"init,omitempty"`
	CapDrop         []string                     `json:"cap_drop,omitempty"`
	SecurityOpt     []string                     `json:"security_opt,omitempty"`
	PullPolicy      string                       `json:"pull_policy,omitempty"`
	Profiles        []string                     `json:"profiles,omitempty"`
}

type composeBuild struct {
	Context    string `json:"context"`
	Dockerfile string `json:"dockerfile,omitempty"`
	Target     string `json:"target,omitempty"`
}

type composeDependency struct {
	Condition string `json:"condition"`
	Restart   bool   `json:"restart,omitempty"`
	Required  *bool  `json:"required,omitempty"`
}

type composeHealthcheck struct {
	Test          []string `json:"test"`
	Interval      string   `json:"interval,omitempty"`
	Timeout       string   `json:"timeout,omitempty"`
	Retries       int      `json:"retries,omitempty"`
	StartPeriod   string   `json:"start_period,omitempty"`
	StartInterval string   `json:"start_interval,omitempty"`
	Disable       bool     `json:"disable,omitempty"`
}

type composeDeploy struct {
	Replicas  *int `json:"replicas,omitempty"`
	Resources *struct {
		Limits       *composeResources `json:"limits,omitempty"`
		Reservations *composeResources `json:"reservations,omitempty"`
	} `json:"resources,omitempty"`
}

type composeResources struct {
	CPUs   string `json:"cpus,omitempty"`
	Memory string `json:"memory,omitempty"`
}

type composeVolume struct {
	Driver   string `json:"driver,omitempty"`
	External bool   `json:"external,omitempty"`
	Name     string `json:"name,omitempty"`
}

type composeNetwork struct {
	Driver   string `json:"driver,omitempty"`
	External bool   `json:"external,omitempty"`
	Name     string `json:"name,omitempty"`
}

// loadCompose decodes docker-compose.yml. YAML anchors and merge keys are resolved
// first; top-level x-* extensions (which Compose ignores) are dropped; the rest must
// fit the typed struct exactly.
func loadCompose(t *testing.T) compose {
	t.Helper()
	data, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for k := range top {
		if strings.HasPrefix(k, "x-") {
			delete(top, k)
		}
	}
	js, err = json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var c compose
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	return c
}

// isHookflow tells the services built from deploy/Dockerfile.
func (s composeService) isHookflow() bool {
	return s.Build != nil && filepath.Clean(filepath.Join(s.Build.Context, s.Build.Dockerfile)) == filepath.Clean("../deploy/Dockerfile")
}

func (s composeService) replicas() int {
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		return *s.Deploy.Replicas
	}
	return 1
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	known := subcommands(t)
	vars := configTable(t)
	roleOf := map[string]string{} // hookflow service → subcommand
	var names []string
	for name := range c.Services {
		names = append(names, name)
	}
	sort.Strings(names)

	for _, name := range names {
		s := c.Services[name]
		where := "docker-compose.yml service " + name
		if s.Image == "" && s.Build == nil {
			t.Errorf("%s: neither image nor build", where)
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s: depends on %q, which is not a service", where, dep)
				continue
			}
			switch d.Condition {
			case "service_started":
			case "service_healthy":
				if target.Healthcheck == nil || target.Healthcheck.Disable || len(target.Healthcheck.Test) == 0 {
					t.Errorf("%s: waits for %s to be healthy, which has no healthcheck", where, dep)
				}
			case "service_completed_successfully":
				if target.Restart == "always" || target.Restart == "unless-stopped" {
					t.Errorf("%s: waits for %s to complete, whose restart %q never lets it", where, dep, target.Restart)
				}
			default:
				t.Errorf("%s: depends_on %s: condition %q is not service_started, service_healthy or service_completed_successfully", where, dep, d.Condition)
			}
		}
		if hc := s.Healthcheck; hc != nil && !hc.Disable {
			if len(hc.Test) < 2 || (hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL") {
				t.Errorf("%s: healthcheck test %v: want [\"CMD\", …] or [\"CMD-SHELL\", …]", where, hc.Test)
			}
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("%s: build: %v", where, err)
			}
		}
		if !s.isHookflow() {
			continue
		}

		// hookflow's own services.
		if len(s.Entrypoint) > 0 {
			t.Errorf("%s: entrypoint %v replaces the image's hookflow entrypoint", where, s.Entrypoint)
		}
		if len(s.Command) == 0 {
			t.Errorf("%s: no command: say which subcommand it runs", where)
			continue
		}
		r := s.Command[0]
		roleOf[name] = r
		checkSubcommand(t, where, r, known)
		for _, v := range requiredEnv[r] {
			if s.Environment[v] == "" {
				t.Errorf("%s: %s needs %s", where, r, v)
			}
		}
		for k := range s.Environment {
			if !documented(vars, k) {
				t.Errorf("%s: env %s is not in README.md's config table", where, k)
			}
		}
		if v, ok := s.Environment["HOOKFLOW_ENCRYPTION_KEY"]; ok && !strings.HasPrefix(v, "${HOOKFLOW_ENCRYPTION_KEY:?") {
			t.Errorf("%s: HOOKFLOW_ENCRYPTION_KEY must come from the caller's environment (${HOOKFLOW_ENCRYPTION_KEY:?…}), not the file: %q", where, v)
		}
		if v, ok := s.Environment["HOOKFLOW_HTTP_ADDR"]; ok && !strings.HasPrefix(v, "0.0.0.0:") {
			t.Errorf("%s: HOOKFLOW_HTTP_ADDR %q: listen on 0.0.0.0 in a container", where, v)
		}
		// The image is distroless with no healthcheck subcommand: a healthcheck could
		// only run hookflow itself with a subcommand that exists.
		if hc := s.Healthcheck; hc != nil && !hc.Disable {
			if len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != binary || !known[hc.Test[2]] {
				t.Errorf("%s: healthcheck %v cannot run in the distroless image (no shell, no curl)", where, hc.Test)
			}
		}
		if r == "server" || r == "worker" {
			grace := defaultShutdownGrace(t, vars)
			if v, ok := s.Environment["HOOKFLOW_SHUTDOWN_GRACE"]; ok {
				if grace, ok = parseDuration(t, where, v); !ok {
					continue
				}
			}
			stop := 10 * time.Second // Compose's default
			if s.StopGracePeriod != "" {
				var ok bool
				if stop, ok = parseDuration(t, where, s.StopGracePeriod); !ok {
					continue
				}
			}
			if stop <= grace {
				t.Errorf("%s: stop_grace_period %v does not exceed HOOKFLOW_SHUTDOWN_GRACE %v", where, stop, grace)
			}
		}
	}

	// Servers and workers start only on a migrated database and a set-up namespace.
	count := map[string]int{}
	for _, name := range names {
		r := roleOf[name]
		count[r] += c.Services[name].replicas()
		if r != "server" && r != "worker" {
			continue
		}
		for _, need := range []string{"migrate", "temporal-setup"} {
			ok := false
			for dep, d := range c.Services[name].DependsOn {
				if roleOf[dep] == need && d.Condition == "service_completed_successfully" {
					ok = true
				}
			}
			if !ok {
				t.Errorf("docker-compose.yml service %s: does not wait for a %s service to complete successfully", name, need)
			}
		}
	}
	for _, r := range deployRoles {
		if count[r] == 0 {
			t.Errorf("docker-compose.yml: no service runs hookflow %s", r)
		}
	}
	if count["worker"] < 2 {
		t.Errorf("docker-compose.yml: %d worker(s); run two to show they share the task queue", count["worker"])
	}
}

func parseDuration(t *testing.T, where, v string) (time.Duration, bool) {
	t.Helper()
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Errorf("%s: %q: %v", where, v, err)
		return 0, false
	}
	return d, true
}

// ---------------------------------------------------------------------------
// Dockerfile and Makefile

// goBuild is what a `go build` command line decides about the binary.
type goBuild struct {
	env    map[string]string // CGO_ENABLED and friends, inline or from ENV
	flags  map[string]string // -trimpath → "", -ldflags → "-s -w", … (not -o)
	output string
	pkgs   []string
}

// buildEnv are the variables that change the binary.
var buildEnv = []string{"CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "GOFLAGS", "GOEXPERIMENT"}

// valueFlags are the go build flags that take a value.
var valueFlags = []string{"-o", "-ldflags", "-gcflags", "-asmflags", "-tags", "-mod", "-p", "-pgo", "-buildmode", "-installsuffix", "-overlay", "-pkgdir", "-toolexec", "-modfile"}

var envAssign = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// parseGoBuild finds `go build` (or `$(GO) build`) in a shell command line.
func parseGoBuild(line string, env map[string]string) (goBuild, error) {
	words, err := shellWords(line)
	if err != nil {
		return goBuild{}, err
	}
	i := slices.IndexFunc(words, func(w string) bool { return w == "go" || w == "$(GO)" || w == "${GO}" })
	if i < 0 || i+1 >= len(words) || words[i+1] != "build" {
		return goBuild{}, fmt.Errorf("no go build in %q", line)
	}
	b := goBuild{env: map[string]string{}, flags: map[string]string{}}
	for k, v := range env {
		b.env[k] = v
	}
	// Inline assignments right before the go command.
	for j := i - 1; j >= 0; j-- {
		k, v, ok := strings.Cut(words[j], "=")
		if !ok || !envAssign.MatchString(k) {
			break
		}
		b.env[k] = v
	}
	for j := i + 2; j < len(words); j++ {
		w := words[j]
		if w == "&&" || w == ";" || w == "||" {
			break
		}
		if !strings.HasPrefix(w, "-") {
			b.pkgs = append(b.pkgs, w)
			continue
		}
		name, val, hasVal := strings.Cut(strings.Replace(w, "--", "-", 1), "=")
		if !hasVal && slices.Contains(valueFlags, name) && j+1 < len(words) {
			j++
			val = words[j]
		}
		if name == "-o" {
			b.output = val
			continue
		}
		b.flags[name] = val
	}
	return b, nil
}

// shellWords splits a command line as sh would, for the quoting used in a Makefile
// recipe or a RUN line: single and double quotes and backslash escapes.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.ContainsRune(`"\$`+"`", rune(s[i+1])) {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// makeBuild parses the recipe of the Makefile's build target.
func makeBuild(t *testing.T) goBuild {
	t.Helper()
	data, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "build:") })
	if start < 0 {
		t.Fatal("Makefile has no build target")
	}
	var recipe []string
	for _, l := range lines[start+1:] {
		if !strings.HasPrefix(l, "\t") {
			break
		}
		recipe = append(recipe, strings.TrimPrefix(l, "\t"))
	}
	for _, l := range joinContinuations(recipe) {
		l = strings.TrimLeft(l, "@-+")
		if b, err := parseGoBuild(l, nil); err == nil {
			return b
		}
	}
	t.Fatalf("Makefile build recipe has no go build: %q", recipe)
	return goBuild{}
}

func joinContinuations(lines []string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range lines {
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " \t"), `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// instruction is one Dockerfile instruction, continuations joined.
type instruction struct {
	cmd  string // upper case
	args string
}

// stage is a FROM and what follows it.
type stage struct {
	from  string // image
	name  string // AS name
	instr []instruction
}

func dockerStages(t *testing.T) []stage {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.SplitSeq(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines = append(lines, l)
		}
	}
	var stages []stage
	for _, l := range joinContinuations(lines) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		cmd, args, _ := strings.Cut(l, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			var words []string
			for w := range strings.FieldsSeq(in.args) {
				if !strings.HasPrefix(w, "--") {
					words = append(words, w)
				}
			}
			s := stage{from: words[0]}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				s.name = words[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile: %s before FROM", in.cmd)
			}
			continue
		}
		stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages; want a build stage and a runtime stage", len(stages))
	}
	return stages
}

// dockerBuild finds the go build of a stage, with the stage's ENV applied.
func dockerBuild(t *testing.T, s stage) (goBuild, bool) {
	t.Helper()
	env := map[string]string{}
	for _, in := range s.instr {
		switch in.cmd {
		case "ENV":
			words, err := shellWords(in.args)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range words {
				if k, v, ok := strings.Cut(w, "="); ok {
					env[k] = v
				}
			}
		case "RUN":
			if !strings.Contains(in.args, "go build") {
				continue
			}
			b, err := parseGoBuild(in.args, env)
			if err != nil {
				t.Fatalf("Dockerfile RUN: %v", err)
			}
			return b, true
		}
	}
	return goBuild{}, false
}

func TestDockerfileBuildsLikeMakeBuild(t *testing.T) {
	want := makeBuild(t)
	stages := dockerStages(t)
	var got goBuild
	var builder stage
	found := false
	for _, s := range stages {
		if b, ok := dockerBuild(t, s); ok {
			got, builder, found = b, s, true
		}
	}
	if !found {
		t.Fatal("Dockerfile has no go build")
	}
	for _, k := range buildEnv {
		if got.env[k] != want.env[k] {
			t.Errorf("%s: Dockerfile %q, make build %q", k, got.env[k], want.env[k])
		}
	}
	if want.env["CGO_ENABLED"] != "0" {
		t.Errorf("make build: CGO_ENABLED=%q; the distroless/static image needs a static binary (0)", want.env["CGO_ENABLED"])
	}
	if fmt.Sprint(got.flags) != fmt.Sprint(want.flags) {
		t.Errorf("go build flags: Dockerfile %v, make build %v", got.flags, want.flags)
	}
	if _, ok := want.flags["-trimpath"]; !ok {
		t.Errorf("make build: no -trimpath")
	}
	if !slices.Equal(got.pkgs, want.pkgs) {
		t.Errorf("go build packages: Dockerfile %v, make build %v", got.pkgs, want.pkgs)
	}

	// The runtime stage copies the binary that was built, to where ENTRYPOINT runs it.
	final := stages[len(stages)-1]
	copied := false
	for _, in := range final.instr {
		if in.cmd != "COPY" {
			continue
		}
		words := strings.Fields(in.args)
		if len(words) == 3 && words[0] == "--from="+builder.name && words[1] == got.output && words[2] == binary {
			copied = true
		}
	}
	if !copied {
		t.Errorf("Dockerfile: the final stage does not COPY --from=%s %s %s", builder.name, got.output, binary)
	}
}

func TestDockerfileRuntimeStage(t *testing.T) {
	stages := dockerStages(t)
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("Dockerfile: final stage FROM %s; want gcr.io/distroless/static… or scratch (a static binary needs nothing else)", final.from)
	}
	user, entrypoint := "", ""
	for _, in := range final.instr {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("Dockerfile: final stage USER %q; want a non-root user", user)
	}
	// The manifests give only the subcommand (args / command), so the ENTRYPOINT
	// must be the binary in exec form.
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || !slices.Equal(ep, []string{binary}) {
		t.Errorf("Dockerfile: ENTRYPOINT %s; want [%q] in exec form", entrypoint, binary)
	}
}
