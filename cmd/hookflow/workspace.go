package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookflow/hookflow/internal/apikeys"
	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/store"
	"github.com/hookflow/hookflow/models"
)

const helpWorkspace = `Usage: hookflow workspace create --name NAME [--key-name NAME]
       hookflow workspace list

Workspaces (tenants) are made by the operator, never by a tenant's key. 'create'
makes a workspace and its first API key in DATABASE_URL and prints both; the key
is shown only then (keep it; only its hash is stored). Give it to the tenant: with
it they make and revoke their own workspace's keys. 'list' prints every workspace.

The same is served over HTTP to the admin key (HOOKFLOW_ADMIN_KEY):
POST /v1/workspaces and GET /v1/workspaces.

Without DATABASE_URL it works on the dev data dir's SQLite (HOOKFLOW_DATA_DIR).

Flags:
`

func cmdWorkspace(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := flag.NewFlagSet("workspace", flag.ContinueOnError)
		if err := parseFlags(fs, args, stdout, helpWorkspace); err != nil {
			return err
		}
		fmt.Fprint(stdout, "say what to do: create or list\n\n"+helpWorkspace)
		return errUsage
	}
	switch args[0] {
	case "create":
		return cmdWorkspaceCreate(ctx, args[1:], stdout, stderr, getenv)
	case "list":
		return cmdWorkspaceList(ctx, args[1:], stdout, stderr, getenv)
	}
	fmt.Fprintf(stdout, "unknown workspace command %q\n\n%s", args[0], helpWorkspace)
	return errUsage
}

func cmdWorkspaceCreate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("workspace create", flag.ContinueOnError)
	name := fs.String("name", "", "the workspace's name (required)")
	keyName := fs.String("key-name", apikeys.DefaultKeyName, "the name of its first API key")
	if err := parseFlags(fs, args, stdout, helpWorkspace); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		fmt.Fprint(stdout, "--name is required\n\n"+helpWorkspace)
		return errUsage
	}
	for _, f := range [][2]string{{"--name", *name}, {"--key-name", *keyName}} {
		if err := models.ValidateText(f[0], f[1], 200); err != nil {
			return err
		}
	}
	st, err := openAppStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	nw, err := apikeys.New(st, apikeys.Config{}).CreateWorkspace(ctx, *name, *keyName)
	if err != nil {
		return err
	}
	// The key last and alone on its line, for `| tail -n 1`.
	fmt.Fprintf(stdout, "created workspace %s %q\napi key %s (shown only now; keep it safe):\n%s\n", nw.Workspace.ID, nw.Workspace.Name, nw.Record.ID, nw.Key)
	return nil
}

func cmdWorkspaceList(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("workspace list", flag.ContinueOnError)
	if err := parseFlags(fs, args, stdout, helpWorkspace); err != nil {
		return err
	}
	st, err := openAppStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tNAME")
	page := models.Page{Limit: 250}
	for {
		list, next, err := st.ListWorkspaces(ctx, page)
		if err != nil {
			return err
		}
		for _, w := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", w.ID, w.CreatedAt.Format(time.RFC3339), w.Name)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	return tw.Flush()
}

// openAppStore opens the migrated app database of DATABASE_URL, or of the dev data
// dir when it is unset, for the operator's one-off commands.
func openAppStore(ctx context.Context, getenv func(string) string, stderr io.Writer) (*store.Store, error) {
	role := config.RoleMigrate
	if strings.TrimSpace(getenv("DATABASE_URL")) == "" {
		role = config.RoleDev
	}
	cfg, err := config.Load(role, getenv)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, newLogger(cfg, stderr))
	if err != nil {
		return nil, err
	}
	if err := st.CheckMigrated(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}
