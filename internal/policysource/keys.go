package policysource

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/open-policy-agent/opa/v1/bundle"
)

// KeyID is the key id gatehouse signs bundles with and verifies them under. Verification uses the one
// configured key whatever key id a bundle's signature names, so bundles signed by `opa build
// --signing-key` with any key id verify against the right key.
const KeyID = "gatehouse"

// Verification reads a PEM public key (PKIX "PUBLIC KEY", PKCS #1 "RSA PUBLIC KEY", or a certificate)
// and returns the configuration that makes a bundle load only when its .signatures.json is present and
// signed by that key. The algorithm follows from the key: RS256 for RSA, ES256/384/512 for ECDSA P-256,
// P-384 and P-521 — the algorithms OPA bundle signatures support.
func Verification(path string) (*bundle.VerificationConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bundle public key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("bundle public key %s: not a PEM file", path)
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("bundle public key %s: a %q PEM block is not a public key (is this the private key?)", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("bundle public key %s: %w", path, err)
	}
	alg, err := algorithm(pub)
	if err != nil {
		return nil, fmt.Errorf("bundle public key %s: %w", path, err)
	}
	keys := map[string]*bundle.KeyConfig{KeyID: {Key: string(data), Algorithm: alg}}
	return bundle.NewVerificationConfig(keys, KeyID, "", nil), nil
}

// Signing reads a PEM private key and returns the configuration `gatehouse bundle build` signs with,
// the algorithm following from the key as for Verification.
func Signing(path string) (*bundle.SigningConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("signing key %s: not a PEM file", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("signing key %s: a %q PEM block is not a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	var pub any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	default:
		pub = key
	}
	alg, err := algorithm(pub)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return bundle.NewSigningConfig(string(data), alg, ""), nil
}

func algorithm(pub any) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RS256", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
		return "", fmt.Errorf("ECDSA curve %s is not supported by OPA bundle signatures", k.Curve.Params().Name)
	}
	return "", errors.New("OPA bundle signatures use RSA or ECDSA keys; this key is neither")
}
