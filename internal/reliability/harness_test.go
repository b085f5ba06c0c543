//go:build reliability

package reliability

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the checks on the app database

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/internal/testenv"
)

// cluster is one scenario's hookflow: its own Temporal process and data dir, its own
// app database, and the server and worker processes the scenario starts. The
// processes are stopped when the test ends, the last started first.
type cluster struct {
	t        *testing.T
	key      string
	dsn      string
	env      []string
	temporal *testenv.Process
	// dataDir holds the Temporal process's SQLite files.
	dataDir string
}

type clusterOptions struct {
	dsn           string // app database; a fresh one on the shared Postgres when empty
	retrySchedule string
	env           []string // more variables for every process, e.g. HOOKFLOW_ADMIN_KEY=…
}

func newCluster(ctx context.Context, t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, key: "hfk_rel_" + ids.New("k"), dsn: o.dsn}
	if c.dsn == "" {
		c.dsn = testenv.NewPostgres(t)
	}
	c.env = append([]string{
		"DATABASE_URL=" + c.dsn,
		"HOOKFLOW_ENCRYPTION_KEY=" + secretbox.Generate(),
		"HOOKFLOW_API_KEY=" + c.key,
		"HOOKFLOW_ALLOWED_CIDRS=127.0.0.0/8",
		"HOOKFLOW_API_RATE_LIMIT=0",
		"HOOKFLOW_SOURCE_RATE_LIMIT=0",
		"HOOKFLOW_LOG_LEVEL=warn",
		"HOOKFLOW_SHUTDOWN_GRACE=5s",
		"HOOKFLOW_RETRY_SCHEDULE=" + o.retrySchedule,
	}, o.env...)
	c.dataDir = t.TempDir()
	c.temporal = testenv.StartHookflowTemporal(ctx, t, c.dataDir, c.env)
	c.env = append(c.env, "TEMPORAL_ADDRESS="+c.temporal.Addr)
	testenv.RunHookflow(ctx, t, c.env, "migrate")
	return c
}

// add starts a hookflow process with role ("server", "worker", "server --with-worker").
func (c *cluster) add(ctx context.Context, name, role string) *testenv.Process {
	c.t.Helper()
	return testenv.StartHookflow(ctx, c.t, name, c.env, strings.Fields(role)...)
}

// answer is one HTTP exchange as the caller saw it.
type answer struct {
	Code int
	Body []byte
	Err  error
}

func (a answer) String() string {
	if a.Err != nil {
		return "error: " + a.Err.Error()
	}
	return fmt.Sprintf("%d %s", a.Code, testenv.Tail(string(a.Body), 300))
}

// apiClient talks to hookflow's REST API with the cluster's key.
type apiClient struct {
	key  string
	http *http.Client
}

func newAPIClient(key string) *apiClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &apiClient{key: key, http: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}

// do sends body (a []byte or string as is, anything else as JSON) and returns what came back.
func (a *apiClient) do(ctx context.Context, method, url string, body any, header http.Header) answer {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return answer{Err: err}
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return answer{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return answer{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return answer{Code: resp.StatusCode, Body: raw, Err: err}
}

// must sends and fails the test unless the answer has the wanted status; it decodes
// the body into out when out is not nil.
func (a *apiClient) must(ctx context.Context, t *testing.T, want int, method, url string, body, out any) {
	t.Helper()
	ans := a.do(ctx, method, url, body, nil)
	if ans.Err != nil || ans.Code != want {
		t.Fatalf("%s %s: %s, want %d", method, url, ans, want)
	}
	if out != nil {
		if err := json.Unmarshal(ans.Body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, ans.Body, err)
		}
	}
}

// accepted is the 202 answer to an event.
type accepted struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// eventID is the "id" of the event a delivery carries.
func eventID(r testenv.Request) string {
	id, _ := r.JSON["id"].(string)
	return id
}

// eventData is the "data" of the event a delivery carries.
func eventData(r testenv.Request) map[string]any {
	data, _ := r.JSON["data"].(map[string]any)
	return data
}

// inFlight is the set of keys of the requests the receiver holds unanswered.
func inFlight(r *testenv.Receiver) map[string]bool {
	out := map[string]bool{}
	for _, req := range r.InFlight() {
		out[req.Key] = true
	}
	return out
}

// tally is what a set of receivers saw of a set of events: how many were delivered
// (answered 2xx at least once), how many repeats, and whether every repeat and every
// request carried the event's own id as webhook-id.
type tally struct {
	Delivered   int
	Lost        []string
	Duplicates  int // 2xx answers beyond the first per event
	Repeats     int // requests beyond the first per event, answered or not
	SameID      bool
	DupOutside  []string // events received more than once though not in flight at the fault
	Requests    int
	OtherEvents int // requests for events not in the set (must be 0)
}

// count checks the receiver's requests against want (event ids). allowedDup lists
// the ids that may legitimately arrive twice (in flight at the fault); nil allows
// none.
func count(r *testenv.Receiver, want map[string]bool, allowedDup map[string]bool) tally {
	tl := tally{SameID: true}
	ok, got := map[string]int{}, map[string]int{}
	for _, h := range r.Requests() {
		tl.Requests++
		if h.Key != eventID(h) {
			tl.SameID = false
		}
		if !want[h.Key] {
			tl.OtherEvents++
			continue
		}
		got[h.Key]++
		if h.Code >= 200 && h.Code < 300 {
			ok[h.Key]++
		}
	}
	for id := range want {
		if n := got[id]; n > 1 {
			tl.Repeats += n - 1
			if !allowedDup[id] {
				tl.DupOutside = append(tl.DupOutside, id)
			}
		}
		switch n := ok[id]; {
		case n == 0:
			tl.Lost = append(tl.Lost, id)
		default:
			tl.Delivered++
			tl.Duplicates += n - 1
		}
	}
	return tl
}

// openDB opens the app database for the checks the API does not expose.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// freePort returns a free loopback TCP port.
func freePort(t *testing.T) int {
	_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
	var p int
	fmt.Sscan(port, &p)
	return p
}
