package secretbox

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	kr, err := Parse(Generate())
	if err != nil {
		t.Fatal(err)
	}
	a := kr.Seal([]byte(`[{"value":"whsec_abc"}]`), "endpoints.secrets:ep_1")
	b := kr.Seal([]byte(`[{"value":"whsec_abc"}]`), "endpoints.secrets:ep_1")
	if !IsSealed(a) || strings.Contains(a, "whsec") || a == b {
		t.Fatalf("sealed %q / %q: want prefixed, opaque, and a fresh nonce each time", a, b)
	}
	got, err := kr.Open(a, "endpoints.secrets:ep_1")
	if err != nil || string(got) != `[{"value":"whsec_abc"}]` {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := kr.Open(a, "endpoints.secrets:ep_2"); err == nil {
		t.Error("a value moved to another row opened")
	}
	tampered := a[:len(a)-2] + "AA"
	if tampered == a {
		tampered = a[:len(a)-2] + "BB"
	}
	if _, err := kr.Open(tampered, "endpoints.secrets:ep_1"); err == nil {
		t.Error("a tampered value opened")
	}
	if got, err := kr.Open(`[{"value":"legacy"}]`, "x"); err != nil || string(got) != `[{"value":"legacy"}]` {
		t.Errorf("plain legacy value: %q, %v", got, err)
	}
}

func TestRotationKeyring(t *testing.T) {
	oldKey, newKey := Generate(), Generate()
	old, _ := Parse(oldKey)
	both, err := Parse(newKey + "," + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealed := old.Seal([]byte("s3cret"), "aad")
	if both.SealedByPrimary(sealed) || !old.SealedByPrimary(sealed) {
		t.Error("SealedByPrimary is wrong")
	}
	if got, err := both.Open(sealed, "aad"); err != nil || string(got) != "s3cret" {
		t.Errorf("the old key in second place does not open: %q, %v", got, err)
	}
	onlyNew, _ := Parse(newKey)
	if _, err := onlyNew.Open(sealed, "aad"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open with the wrong keyring: %v, want ErrUnknownKey", err)
	}
}

func TestParse(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i)
	}
	forms := []string{
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), hex.EncodeToString(raw),
	}
	var ids []string
	for _, f := range forms {
		kr, err := Parse(" " + f + " ")
		if err != nil {
			t.Fatalf("Parse(%q): %v", f, err)
		}
		ids = append(ids, kr.PrimaryID())
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Errorf("the same key in other forms has other ids: %v", ids)
		}
	}
	for _, bad := range []string{"", " , ", "short", base64.StdEncoding.EncodeToString(raw[:16]), strings.Repeat("z", 64)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
