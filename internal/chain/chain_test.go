package chain

import "testing"

func TestSignVerify(t *testing.T) {
	old := NewSigner([][]byte{[]byte("old key")})
	s := NewSigner([][]byte{[]byte("new key"), []byte("old key")})
	l := Link{RootID: "evt_01H", Depth: 3}
	v := s.Sign(l)
	if got, ok := s.Verify(v); !ok || got != l {
		t.Fatalf("Verify(Sign(%v)) = %v, %v", l, got, ok)
	}
	if got, ok := s.Verify(old.Sign(l)); !ok || got != l {
		t.Errorf("a header signed with the previous key: %v, %v; want accepted during rotation", got, ok)
	}
	if _, ok := old.Verify(v); ok {
		t.Error("a key that did not sign it verified it")
	}
	for _, bad := range []string{
		"", "v1,evt_01H,3", "v1,evt_01H,0," + v[len(v)-43:], // depth changed
		"v1,evt_other,3," + v[len(v)-43:], "v2,evt_01H,3,x", "v1,,3,x", "v1,evt_01H,-1,x",
	} {
		if got, ok := s.Verify(bad); ok {
			t.Errorf("Verify(%q) = %v, want refused", bad, got)
		}
	}
	var none *Signer
	if none.Sign(l) != "" {
		t.Error("a nil signer signed")
	}
	if _, ok := none.Verify(v); ok {
		t.Error("a nil signer verified")
	}
}
