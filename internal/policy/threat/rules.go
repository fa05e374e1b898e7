package threat

// The categories of SPEC §9.1, as they appear in policy.Finding.Category.
const (
	PromptInjection    = "prompt_injection"
	CommandInjection   = "command_injection"
	SecretExfiltration = "secret_exfiltration"
	PathTraversal      = "path_traversal"
	SuspiciousURL      = "suspicious_url"
	ToolPoisoning      = "tool_poisoning"
)

// Categories lists every category a finding can carry, in a fixed order (for metrics and reports).
var Categories = []string{PromptInjection, CommandInjection, SecretExfiltration, PathTraversal, SuspiciousURL, ToolPoisoning}

// Rule describes one detection rule: what a finding's Rule, Category and Weight mean.
type Rule struct {
	// ID is the stable identifier in findings, e.g. "pi.ignore-instructions".
	ID string
	// Category is the category of a finding in arguments and results.
	Category string
	// ToolCategory is the category of a finding in a tool definition (tools/list): instructions
	// there are tool poisoning, whatever they ask for.
	ToolCategory string
	// Weight is the rule's contribution to the score, in (0, 1].
	Weight float64
	// Description says what the rule looks for, for the docs and for an operator reading a finding.
	Description string
}

// Rule indexes into the rule table. The order is the order of the docs table.
const (
	rPIIgnore = iota
	rPIRoleOverride
	rPIPromptLeak
	rPIDelimiter
	rPIInvisible
	rPIBidi
	rPIHiddenPayload
	rPIHomoglyph
	rTPImportantTag
	rTPConceal
	rTPPrecondition
	rTPShadowing
	rCIDownloadExec
	rCIPipeShell
	rCIDestructive
	rCIRecursiveDelete
	rCIChainedNetwork
	rCIChained
	rCISubst
	rCIBacktick
	rCIReverseShell
	rCIPowerShell
	rCISQL
	rCIJNDI
	rCICodeExec
	rSEPrivateKey
	rSEAWSKey
	rSEAPIToken
	rSEJWT
	rSEURLCreds
	rSESecretInURL
	rSESensitiveFile
	rSEExfilInstruction
	rPTParentEscape
	rPTEscape
	rPTEncoded
	rPTBypass
	rPTSystemPath
	rPTNullByte
	rURLIP
	rURLObfuscatedIP
	rURLMetadata
	rURLPunycode
	rURLDataURI
	rURLScriptScheme
	rURLExfil
	numRules
)

// ruleTable is every rule the scanner knows, indexed by the constants above.
var ruleTable = [numRules]Rule{
	rPIIgnore: {"pi.ignore-instructions", PromptInjection, ToolPoisoning, 0.8,
		"an instruction to ignore, disregard, forget or override previous / system instructions, in English, German, French, Spanish, Italian, Portuguese, Russian, Chinese, Japanese or Korean"},
	rPIRoleOverride: {"pi.role-override", PromptInjection, ToolPoisoning, 0.6,
		"a jailbreak persona or a new role imposed on the model (\"do anything now\", \"you have no restrictions\", \"from now on you are\")"},
	rPIPromptLeak: {"pi.prompt-leak", PromptInjection, ToolPoisoning, 0.6,
		"a request to reveal, print or repeat the system prompt or the model's instructions"},
	rPIDelimiter: {"pi.fake-delimiter", PromptInjection, ToolPoisoning, 0.5,
		"chat-template control tokens (<|im_start|>, [INST], <<SYS>>, <|eot_id|>...) that try to open a new system or user turn"},
	rPIInvisible: {"pi.invisible-chars", PromptInjection, ToolPoisoning, 0.4,
		"two or more zero-width or other invisible characters inside words, which split keywords for a filter but not for a model"},
	rPIBidi: {"pi.bidi-override", PromptInjection, ToolPoisoning, 0.4,
		"bidirectional embedding, override or isolate characters that make text display differently from what it is (Trojan Source)"},
	rPIHiddenPayload: {"pi.hidden-payload", PromptInjection, ToolPoisoning, 0.7,
		"Unicode tag characters or variation selectors used to carry invisible text (ASCII smuggling); the hidden text is decoded and scanned too"},
	rPIHomoglyph: {"pi.homoglyph", PromptInjection, ToolPoisoning, 0.3,
		"a word mixing Latin letters with Cyrillic or Greek look-alikes"},
	rTPImportantTag: {"tp.instruction-tag", ToolPoisoning, ToolPoisoning, 0.6,
		"pseudo-tags that frame hidden instructions for the model: <IMPORTANT>, <instructions>, <system>, <secret>, <hidden>"},
	rTPConceal: {"tp.conceal-from-user", ToolPoisoning, ToolPoisoning, 0.7,
		"an instruction to keep something from the user (\"do not tell the user\", \"without informing the user\")"},
	rTPPrecondition: {"tp.precondition", ToolPoisoning, ToolPoisoning, 0.3,
		"a demand that something be done before the tool is used (\"before using this tool\", \"this tool will not work unless\"); weak on its own"},
	rTPShadowing: {"tp.shadowing", ToolPoisoning, ToolPoisoning, 0.5,
		"instructions about other tools or recipients (\"when this tool is available\", \"change the recipient\", \"bcc all\")"},
	rCIDownloadExec: {"ci.download-exec", CommandInjection, CommandInjection, 0.85,
		"a download piped into an interpreter: curl ... | sh, wget -O- ... | bash, iwr ... | iex"},
	rCIPipeShell: {"ci.pipe-to-shell", CommandInjection, CommandInjection, 0.6,
		"output piped into a shell or interpreter: | sh, | bash, | python, | iex"},
	rCIDestructive: {"ci.destructive", CommandInjection, CommandInjection, 0.8,
		"commands that destroy a system: rm -rf / or ~ or *, mkfs, dd onto a device, fork bombs, format c:"},
	rCIRecursiveDelete: {"ci.recursive-delete", CommandInjection, CommandInjection, 0.3,
		"a recursive forced delete of an ordinary path (rm -rf build); weak on its own"},
	rCIChainedNetwork: {"ci.chained-network", CommandInjection, CommandInjection, 0.6,
		"a shell separator (; && || |) followed by a network or shell tool: curl, wget, nc, ssh, bash, python -c, sudo"},
	rCIChained: {"ci.chained-command", CommandInjection, CommandInjection, 0.45,
		"a shell separator (; && ||) followed by a system command: rm, cat, chmod, kill, whoami, crontab"},
	rCISubst: {"ci.command-substitution", CommandInjection, CommandInjection, 0.6,
		"$( ... ) command substitution running a system, network or shell command"},
	rCIBacktick: {"ci.backtick-substitution", CommandInjection, CommandInjection, 0.35,
		"backtick substitution of a system command; weak on its own because Markdown uses backticks for code"},
	rCIReverseShell: {"ci.reverse-shell", CommandInjection, CommandInjection, 0.9,
		"reverse-shell idioms: /dev/tcp/, nc -e, bash -i, mkfifo /tmp/, socat exec:, pty.spawn("},
	rCIPowerShell: {"ci.powershell", CommandInjection, CommandInjection, 0.7,
		"PowerShell download-and-run idioms: -EncodedCommand, IEX, Invoke-Expression, DownloadString("},
	rCISQL: {"ci.sql-injection", CommandInjection, CommandInjection, 0.6,
		"SQL injection shapes: quote-closing tautologies (' OR '1'='1), stacked statements after a quote ('; DROP TABLE), ' UNION SELECT, xp_cmdshell"},
	rCIJNDI: {"ci.jndi-lookup", CommandInjection, CommandInjection, 0.8,
		"a JNDI lookup string (${jndi:...}, Log4Shell) or its ${::-} obfuscation"},
	rCICodeExec: {"ci.code-exec", CommandInjection, CommandInjection, 0.5,
		"calls that run code or commands from inside a program: __import__(, os.system(, subprocess.Popen(, require('child_process'), eval(atob("},
	rSEPrivateKey: {"se.private-key", SecretExfiltration, SecretExfiltration, 0.7,
		"a PEM or OpenSSH private key block"},
	rSEAWSKey: {"se.aws-access-key", SecretExfiltration, SecretExfiltration, 0.6,
		"an AWS access key id (AKIA... / ASIA... followed by 16 characters)"},
	rSEAPIToken: {"se.api-token", SecretExfiltration, SecretExfiltration, 0.6,
		"a provider token by its prefix: GitHub (ghp_, github_pat_), OpenAI / Anthropic (sk-), Slack (xox?-), GitLab (glpat-), Google (AIza), Stripe (sk_live_), npm (npm_)"},
	rSEJWT: {"se.jwt", SecretExfiltration, SecretExfiltration, 0.35,
		"a JSON Web Token (eyJ....eyJ....sig); weak on its own, strong inside a URL"},
	rSEURLCreds: {"se.url-credentials", SecretExfiltration, SecretExfiltration, 0.6,
		"a URL carrying a user name and password (scheme://user:pass@host) that is not an obvious placeholder"},
	rSESecretInURL: {"se.secret-in-url", SecretExfiltration, SecretExfiltration, 0.8,
		"a token, key or JWT inside a URL: a credential on its way to whoever serves that URL"},
	rSESensitiveFile: {"se.sensitive-file", SecretExfiltration, ToolPoisoning, 0.6,
		"paths of credential files: ~/.ssh, id_rsa, .aws/credentials, .env, .netrc, .git-credentials, .kube/config, mcp.json, Kubernetes service-account secrets"},
	rSEExfilInstruction: {"se.exfil-instruction", SecretExfiltration, ToolPoisoning, 0.6,
		"an instruction to send, upload, forward or leak keys, credentials, cookies, environment variables or the conversation"},
	rPTParentEscape: {"pt.parent-escape", PathTraversal, PathTraversal, 0.3,
		"a relative path that climbs one directory above where it starts (../x); weak on its own because documents link to ../"},
	rPTEscape: {"pt.dotdot-escape", PathTraversal, PathTraversal, 0.6,
		"a path that climbs two or more directories above where it starts (../../x, ..\\..\\x)"},
	rPTEncoded: {"pt.encoded-traversal", PathTraversal, PathTraversal, 0.7,
		"percent-encoded, double-encoded or overlong-UTF-8 dot-dot sequences (..%2f, %2e%2e/, %252e, %c0%ae)"},
	rPTBypass: {"pt.filter-bypass", PathTraversal, PathTraversal, 0.8,
		"traversal shapes built to survive a naive filter: ....//, ..../, ..;/, ..%00"},
	rPTSystemPath: {"pt.system-path", PathTraversal, PathTraversal, 0.6,
		"system files outside any workspace: /etc/passwd, /etc/shadow, /proc/self/, /root/, C:\\Windows\\, win.ini"},
	rPTNullByte: {"pt.null-byte", PathTraversal, PathTraversal, 0.5,
		"a NUL byte (raw or %00), which truncates paths in C-based file APIs"},
	rURLIP: {"url.ip-literal", SuspiciousURL, SuspiciousURL, 0.5,
		"a URL whose host is an IP address literal rather than a name"},
	rURLObfuscatedIP: {"url.obfuscated-ip", SuspiciousURL, SuspiciousURL, 0.7,
		"a URL host written as a decimal, hex or octal integer (http://2130706433/, http://0x7f.1/)"},
	rURLMetadata: {"url.metadata-endpoint", SuspiciousURL, SuspiciousURL, 0.8,
		"cloud instance-metadata endpoints (169.254.169.254, metadata.google.internal, 100.100.100.200)"},
	rURLPunycode: {"url.punycode", SuspiciousURL, SuspiciousURL, 0.5,
		"a punycode (xn--) host label, the usual way to spell a look-alike domain"},
	rURLDataURI: {"url.data-uri", SuspiciousURL, SuspiciousURL, 0.6,
		"a data: URL carrying HTML, script or SVG (images and plain text are not flagged)"},
	rURLScriptScheme: {"url.script-scheme", SuspiciousURL, SuspiciousURL, 0.7,
		"a javascript: or vbscript: URL"},
	rURLExfil: {"url.exfil-endpoint", SuspiciousURL, SuspiciousURL, 0.7,
		"request-capture, tunnelling and paste services used to receive stolen data: webhook.site, requestbin, pipedream, ngrok, interactsh, Burp Collaborator, pastebin, transfer.sh, Discord webhooks"},
}

// Rules returns the rule table: every rule the scanner can report, with the weights a default
// scanner uses.
func Rules() []Rule {
	out := make([]Rule, numRules)
	copy(out, ruleTable[:])
	return out
}
