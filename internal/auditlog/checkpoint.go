package auditlog

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// checkpointDomain starts every signed checkpoint message, so a signature
// made for a checkpoint can never be replayed as a signature over anything
// else the same key might sign, and a later format can change the prefix.
const checkpointDomain = "gatehouse-audit-checkpoint/v1\n"

// CheckpointMessage returns the bytes a checkpoint signature covers:
//
//	"gatehouse-audit-checkpoint/v1\n" + decimal(ofSeq) + "\n" + ofHash + "\n"
//
// The signature in the sig member is base64 (standard alphabet, padded) of
// the Ed25519 signature of these bytes.
func CheckpointMessage(ofSeq uint64, ofHash string) []byte {
	msg := make([]byte, 0, len(checkpointDomain)+20+1+len(ofHash)+1)
	msg = append(msg, checkpointDomain...)
	msg = strconv.AppendUint(msg, ofSeq, 10)
	msg = append(msg, '\n')
	msg = append(msg, ofHash...)
	return append(msg, '\n')
}

// newCheckpoint returns the checkpoint member for a checkpoint that follows
// the record (ofSeq, ofHash), signed when key is not nil.
func newCheckpoint(reason string, ofSeq uint64, ofHash string, key ed25519.PrivateKey, keyID string) *Checkpoint {
	c := &Checkpoint{OfSeq: ofSeq, OfHash: ofHash, Reason: reason}
	if key != nil {
		c.KeyID = keyID
		c.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, CheckpointMessage(ofSeq, ofHash)))
	}
	return c
}

// errUnsigned is returned by verifySignature for a checkpoint with no sig.
var errUnsigned = errors.New("checkpoint is not signed")

// verifySignature checks that c is signed by pub, whose KeyID is keyID.
func verifySignature(c *Checkpoint, pub ed25519.PublicKey, keyID string) error {
	if c.Sig == "" {
		return errUnsigned
	}
	if c.KeyID != keyID {
		return fmt.Errorf("checkpoint is signed by key %q, not by the given public key %q", c.KeyID, keyID)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(c.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("checkpoint signature is not a base64 Ed25519 signature")
	}
	if !ed25519.Verify(pub, CheckpointMessage(c.OfSeq, c.OfHash), sig) {
		return errors.New("checkpoint signature does not verify: the chain was rewritten or the checkpoint forged")
	}
	return nil
}
