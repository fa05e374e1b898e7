package mcp

// Method names gatehouse reads. Methods not listed here pass through undecided.
const (
	MethodInitialize            = "initialize"
	MethodDiscover              = "server/discover"
	MethodPing                  = "ping"
	MethodToolsList             = "tools/list"
	MethodToolsCall             = "tools/call"
	MethodResourcesList         = "resources/list"
	MethodResourcesTemplateList = "resources/templates/list"
	MethodResourcesRead         = "resources/read"
	MethodResourcesSubscribe    = "resources/subscribe"
	MethodResourcesUnsubscribe  = "resources/unsubscribe"
	MethodSubscriptionsListen   = "subscriptions/listen"
	MethodPromptsList           = "prompts/list"
	MethodPromptsGet            = "prompts/get"
	MethodCompletionComplete    = "completion/complete"

	NotificationInitialized = "notifications/initialized"
	NotificationCancelled   = "notifications/cancelled"
	NotificationProgress    = "notifications/progress"
)

// decided is the set of request methods every policy engine decides (SPEC §2.6).
var decided = map[string]bool{
	MethodInitialize:            true,
	MethodDiscover:              true,
	MethodToolsList:             true,
	MethodToolsCall:             true,
	MethodResourcesList:         true,
	MethodResourcesTemplateList: true,
	MethodResourcesRead:         true,
	MethodResourcesSubscribe:    true,
	MethodSubscriptionsListen:   true,
	MethodPromptsList:           true,
	MethodPromptsGet:            true,
	MethodCompletionComplete:    true,
}

// Decided reports whether a request with this method is decided by policy. Other requests (ping,
// logging/setLevel, unknown methods) are relayed without a decision unless a rule names them.
func Decided(method string) bool { return decided[method] }

// DecidedMethods lists the decided methods, for documentation and validation.
func DecidedMethods() []string {
	out := make([]string, 0, len(decided))
	for m := range decided {
		out = append(out, m)
	}
	return out
}

// HasResponseHook reports whether results of this method go through the response-phase engines.
func HasResponseHook(method string) bool {
	return method == MethodToolsCall || method == MethodResourcesRead || method == MethodPromptsGet
}

// Listing describes a list method whose result is filtered so a caller sees only what it may use
// (SPEC §3.4).
type Listing struct {
	// Member is the array in the result, e.g. "tools".
	Member string
	// Key is the member of each item that names it, e.g. "name".
	Key string
	// Use is the method a listed item is used with, e.g. "tools/call".
	Use string
}

var listings = map[string]Listing{
	MethodToolsList:             {Member: "tools", Key: "name", Use: MethodToolsCall},
	MethodPromptsList:           {Member: "prompts", Key: "name", Use: MethodPromptsGet},
	MethodResourcesList:         {Member: "resources", Key: "uri", Use: MethodResourcesRead},
	MethodResourcesTemplateList: {Member: "resourceTemplates", Key: "uriTemplate", Use: MethodResourcesRead},
}

// ListingFor returns how to filter the result of a list method.
func ListingFor(method string) (Listing, bool) {
	l, ok := listings[method]
	return l, ok
}
