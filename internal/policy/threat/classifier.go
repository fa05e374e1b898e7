package threat

import (
	"context"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Classifier is an external detector an operator can put behind the scanner (SPEC §9.2): a model
// served elsewhere, a vendor API, a second-opinion service. It sees the text the scanner saw and
// answers with findings in the scanner's own vocabulary, which Merge folds into the score.
//
// The scanner never calls a Classifier: calling out is I/O and belongs to the threat stage, which
// applies a timeout and a fail posture. Implementations must be safe for concurrent use, must
// honour ctx, and should set Where on their findings (e.g. "arguments (classifier)").
type Classifier interface {
	Classify(ctx context.Context, text string) ([]policy.Finding, error)
}
