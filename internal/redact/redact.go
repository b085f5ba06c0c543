// Package redact takes secrets out of text that is shown or kept: error
// messages, failure messages, log lines. Every URL in the text loses its
// userinfo and its query values, and the paths that are themselves the secret
// (Slack's and Teams' incoming webhooks) become [redacted]. It is the one place
// this is decided (issue 18): the HTTP sender's errors and the log handler go
// through it.
package redact

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Mark is what replaces a secret.
const Mark = "[redacted]"

// urls finds URLs in text, up to a space, quote or bracket.
var urls = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// Text is s with every URL in it redacted (URL).
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urls.ReplaceAllStringFunc(s, URL)
}

// URL is raw without its secrets: userinfo, query values, and the path of a
// Slack or Teams incoming webhook. Text that does not parse as a URL is kept
// up to its scheme and host.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if i := strings.Index(raw, "://"); i >= 0 {
			rest := raw[i+3:]
			if j := strings.IndexAny(rest, "/?#"); j >= 0 {
				rest = rest[:j]
			}
			if k := strings.LastIndex(rest, "@"); k >= 0 {
				rest = Mark + "@" + rest[k+1:]
			}
			return raw[:i+3] + rest + "/" + Mark
		}
		return raw
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(Mark + "@")
	}
	b.WriteString(u.Host)
	b.WriteString(path(u))
	if u.RawQuery != "" {
		keys := make([]string, 0)
		for k := range u.Query() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = url.QueryEscape(k) + "=" + Mark
		}
		b.WriteString("?" + strings.Join(parts, "&"))
	}
	return b.String()
}

// path is u's path, or what of it is not a secret.
func path(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	p := u.EscapedPath()
	switch {
	case strings.Contains(host, "slack.com") && strings.HasPrefix(p, "/services/"):
		return "/services/" + Mark
	case strings.HasSuffix(host, "webhook.office.com"), strings.HasSuffix(host, "office365.com") && strings.Contains(p, "webhook"):
		return "/" + Mark
	}
	// A path that looks like Slack's (/services/T…/B…/secret) on any host,
	// such as a test receiver or a proxy, is a webhook secret too.
	if strings.HasPrefix(p, "/services/") && strings.Count(p, "/") >= 4 {
		return "/services/" + Mark
	}
	return p
}
