package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/gatehouse-mcp/gatehouse/internal/secretfile"
)

// PEM block types of the key files.
const (
	pemPrivate = "PRIVATE KEY" // PKCS #8
	pemPublic  = "PUBLIC KEY"  // PKIX
)

// GenerateKey returns a new Ed25519 key pair for signing checkpoints.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// KeyID names a public key in checkpoints: the first 16 hex characters of
// SHA-256 of its 32 raw bytes. It lets a verifier say "signed by another
// key" rather than only "bad signature".
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// EncodePrivateKeyPEM encodes key as a PKCS #8 "PRIVATE KEY" PEM block, the
// form openssl and most tools read.
func EncodePrivateKeyPEM(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: der}), nil
}

// EncodePublicKeyPEM encodes key as a PKIX "PUBLIC KEY" PEM block.
func EncodePublicKeyPEM(key ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublic, Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes an Ed25519 private key from one PKCS #8 PEM
// block. Anything after the block other than whitespace is an error.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	der, err := onePEMBlock(data, pemPrivate)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is a %T, want an Ed25519 key", key)
	}
	return priv, nil
}

// ParsePublicKeyPEM decodes an Ed25519 public key from one PKIX PEM block.
func ParsePublicKeyPEM(data []byte) (ed25519.PublicKey, error) {
	der, err := onePEMBlock(data, pemPublic)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is a %T, want an Ed25519 key", key)
	}
	return pub, nil
}

func onePEMBlock(data []byte, typ string) ([]byte, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM block found, want %q", typ)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, typ)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("unexpected data after the PEM block")
	}
	return block.Bytes, nil
}

// ReadPrivateKeyFile reads a signing key written by WriteKeyPair. It refuses
// a file that group or others may access, as ssh does, because a key others
// can read lets them forge checkpoints.
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	data, err := secretfile.Read(path, "private key")
	if err != nil {
		return nil, err
	}
	key, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// ReadPublicKeyFile reads a public key written by WriteKeyPair.
func ReadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := ParsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// WriteKeyPair generates a key pair and writes the private key to privPath
// (mode 0600) and the public key to pubPath (mode 0644), both PEM. It never
// overwrites a file: replacing a signing key by accident would make every
// earlier checkpoint unverifiable with the key on disk.
func WriteKeyPair(privPath, pubPath string) error {
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite a key", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	pub, priv, err := GenerateKey()
	if err != nil {
		return err
	}
	privPEM, err := EncodePrivateKeyPEM(priv)
	if err != nil {
		return err
	}
	pubPEM, err := EncodePublicKeyPEM(pub)
	if err != nil {
		return err
	}
	if err := writeNewFile(privPath, privPEM, 0o600); err != nil {
		return err
	}
	if err := writeNewFile(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(privPath) // we created it; a private key without its public half is useless
		return err
	}
	return nil
}

// writeNewFile creates path (failing if it exists), writes data and syncs.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
