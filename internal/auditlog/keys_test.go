package auditlog

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyPairRoundTrip(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	if err := WriteKeyPair(priv, pub); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may take bits away from the public key, never add any.
		if got := fi.Mode().Perm(); got != want && !(path == pub && got&^want == 0) {
			t.Errorf("%s: got mode %#o, want %#o", path, got, want)
		}
	}
	key, err := ReadPrivateKeyFile(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubKey, err := ReadPublicKeyFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !pubKey.Equal(key.Public()) {
		t.Errorf("public key file does not match the private key")
	}
	if got := KeyID(pubKey); len(got) != 16 {
		t.Errorf("KeyID: got %q, want 16 hex characters", got)
	}

	// A log signed with the pair verifies with its public key, and not with
	// another one.
	opts := testOptions(t)
	opts.SigningKey = key
	writeLog(t, opts, 6)
	verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: pubKey})
	other, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify([]string{opts.Path}, VerifyOptions{PublicKey: other})
	var p *Problem
	if !errors.As(err, &p) || p.Kind != ProblemSignature || p.Line != 6 || !strings.Contains(p.Message, "signed by key") {
		t.Errorf("Verify with another key: got %v, want a signature problem at the first checkpoint (line 6) naming the key", err)
	}
}

func TestWriteKeyPairRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	if err := os.WriteFile(pub, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPair(priv, pub); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("WriteKeyPair over an existing file: got %v, want a refusal", err)
	}
	if _, err := os.Stat(priv); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("private key after a refused WriteKeyPair: got %v, want it not created", err)
	}
	if data, _ := os.ReadFile(pub); string(data) != "keep me" {
		t.Errorf("existing file: got %q, want it untouched", data)
	}
}

func TestReadPrivateKeyFilePermissions(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	if err := WriteKeyPair(priv, pub); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o610} {
		if err := os.Chmod(priv, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadPrivateKeyFile(priv)
		if err == nil || !strings.Contains(err.Error(), "must not be accessible by group or others") {
			t.Errorf("mode %#o: got %v, want a refusal", mode, err)
		}
	}
	if err := os.Chmod(priv, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPrivateKeyFile(priv); err != nil {
		t.Errorf("mode 0400: got %v, want the key", err)
	}
}

func TestParseKeyPEMErrors(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	_, edPriv, _ := GenerateKey()
	edPEM, _ := EncodePrivateKeyPEM(edPriv)
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	tests := []struct {
		name string
		data []byte
		pub  bool
		want string
	}{
		{"not PEM", []byte("hello"), false, "no PEM block found"},
		{"public where private expected", block("PUBLIC KEY", ecPubDER), false, `PEM block is "PUBLIC KEY", want "PRIVATE KEY"`},
		{"ECDSA private key", block("PRIVATE KEY", ecDER), false, "want an Ed25519 key"},
		{"ECDSA public key", block("PUBLIC KEY", ecPubDER), true, "want an Ed25519 key"},
		{"garbage DER", block("PRIVATE KEY", []byte{1, 2, 3}), false, "parse private key"},
		{"two blocks", append(edPEM, edPEM...), false, "unexpected data after the PEM block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.pub {
				_, err = ParsePublicKeyPEM(tc.data)
			} else {
				_, err = ParsePrivateKeyPEM(tc.data)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
