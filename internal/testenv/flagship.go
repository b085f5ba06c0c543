package testenv

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// flagshipJSON is the flagship scenario (review → points → tier change →
// Slack) as the API takes it: the one copy the tests and the benchmark use,
// so that what is measured is what is tested. The README walks through the
// same two automations.
//
//go:embed testdata/flagship.json
var flagshipJSON []byte

// SlackURLPlaceholder stands in testdata/flagship.json for the Slack
// webhook the notify automation posts to.
const SlackURLPlaceholder = "$SLACK_URL"

// FlagshipAward is the flagship's first automation, for POST
// /v1/automations: a review of 4 or 5 stars earns its customer ten points a
// star. int() makes the rating work the same as a JSON number and as the
// text of a form field or query parameter.
func FlagshipAward() string { return flagshipPart("award") }

// FlagshipNotify is the flagship's second automation: a tier change is
// posted to the Slack incoming webhook at slackURL.
func FlagshipNotify(slackURL string) string {
	quoted, _ := json.Marshal(slackURL)
	return strings.Replace(flagshipPart("notify"), `"`+SlackURLPlaceholder+`"`, string(quoted), 1)
}

func flagshipPart(name string) string {
	var parts map[string]json.RawMessage
	if err := json.Unmarshal(flagshipJSON, &parts); err != nil || parts[name] == nil {
		panic(fmt.Sprintf("testenv: testdata/flagship.json has no automation %q: %v", name, err))
	}
	return string(parts[name])
}
