package report

// Framework is a published catalogue of risks or outcomes that gatehouse's controls are mapped to.
type Framework struct {
	// ID is stable, for JSON consumers: nist-ai-rmf, owasp-asi-2026, nccoe-agent-identity.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Source says where the item titles were taken from.
	Source string `json:"source"`
	Items  []Item `json:"items"`
}

// Item is one entry of a framework: an OWASP risk, a NIST AI RMF subcategory, an NCCoE concern.
type Item struct {
	// ID is the framework's own identifier (ASI03, MEASURE 2.7), or for the NCCoE concerns, which the
	// concept paper does not number, a short name of ours.
	ID string `json:"id"`
	// Title is the framework's wording: the OWASP risk title, the full NIST subcategory text, the
	// NCCoE question area.
	Title string `json:"title"`
	// Function is the NIST AI RMF function (GOVERN, MAP, MEASURE, MANAGE); empty for the others.
	Function string `json:"function,omitempty"`
	// Scope says how far gatehouse addresses the item and what stays outside it.
	Scope string `json:"scope,omitempty"`
}

// Framework IDs.
const (
	NISTAIRMF = "nist-ai-rmf"
	OWASPASI  = "owasp-asi-2026"
	NCCoE     = "nccoe-agent-identity"
)

// Frameworks returns the frameworks gatehouse maps its controls to, in a fixed order.
func Frameworks() []Framework {
	return []Framework{
		{
			ID:   OWASPASI,
			Name: "OWASP Top 10 for Agentic Applications 2026",
			Source: "OWASP GenAI Security Project, Agentic Security Initiative, released December 2025: " +
				"https://genai.owasp.org/resource/owasp-top-10-for-agentic-applications-for-2026/",
			Items: []Item{
				{ID: "ASI01", Title: "Agent Goal Hijack", Scope: "partial: gatehouse sees the tool calls an agent makes and the results and tool descriptions it reads, not its goals; it flags injection in them and limits what a hijacked agent can do"},
				{ID: "ASI02", Title: "Tool Misuse and Exploitation", Scope: "per-call policy on every tool and argument, budgets and rate limits, tool lists cut to what the caller may use"},
				{ID: "ASI03", Title: "Identity and Privilege Abuse", Scope: "signed, expiring, scheme-pinned agent tokens; roles required per tool by policy; secrets kept out of records and logs"},
				{ID: "ASI04", Title: "Agentic Supply Chain Vulnerabilities", Scope: "partial: tool descriptions are scanned for poisoning and tool definitions pinned by hash; the MCP servers themselves are not verified"},
				{ID: "ASI05", Title: "Unexpected Code Execution (RCE)", Scope: "partial: policy can refuse code-running tools and arguments and the scanner flags command-injection shapes; gatehouse does not sandbox servers"},
				{ID: "ASI06", Title: "Memory & Context Poisoning", Scope: "partial: results are scanned for indirect injection before the agent reads them; the agent's own memory is outside gatehouse"},
				{ID: "ASI07", Title: "Insecure Inter-Agent Communication", Scope: "partial: the agent-to-tool hop is authenticated and decided; agent-to-agent protocols are out of scope"},
				{ID: "ASI08", Title: "Cascading Failures", Scope: "budgets, rate limits, fail-closed postures and kill switches bound how far a failure spreads through tool calls"},
				{ID: "ASI09", Title: "Human-Agent Trust Exploitation", Scope: "partial: high-risk calls are held for a human with the exact call; whether that human is misled is outside gatehouse"},
				{ID: "ASI10", Title: "Rogue Agents", Scope: "attributable identity, a tamper-evident record of every action, kill switches per agent, run, session and tenant"},
			},
		},
		{
			ID:   NISTAIRMF,
			Name: "NIST AI Risk Management Framework (AI RMF 1.0, NIST AI 100-1)",
			Source: "NIST AI 100-1, January 2023, Tables 1-4 (subcategory text as published): " +
				"https://doi.org/10.6028/NIST.AI.100-1",
			Items: []Item{
				{ID: "GOVERN 1.4", Function: "GOVERN", Title: "The risk management process and its outcomes are established through transparent policies, procedures, and other controls based on organizational risk priorities."},
				{ID: "GOVERN 1.5", Function: "GOVERN", Title: "Ongoing monitoring and periodic review of the risk management process and its outcomes are planned and organizational roles and responsibilities clearly defined, including determining the frequency of periodic review."},
				{ID: "GOVERN 1.6", Function: "GOVERN", Title: "Mechanisms are in place to inventory AI systems and are resourced according to organizational risk priorities."},
				{ID: "GOVERN 3.2", Function: "GOVERN", Title: "Policies and procedures are in place to define and differentiate roles and responsibilities for human-AI configurations and oversight of AI systems."},
				{ID: "MAP 3.5", Function: "MAP", Title: "Processes for human oversight are defined, assessed, and documented in accordance with organizational policies from the GOVERN function."},
				{ID: "MAP 4.2", Function: "MAP", Title: "Internal risk controls for components of the AI system, including third-party AI technologies, are identified and documented."},
				{ID: "MEASURE 2.4", Function: "MEASURE", Title: "The functionality and behavior of the AI system and its components – as identified in the MAP function – are monitored when in production."},
				{ID: "MEASURE 2.6", Function: "MEASURE", Title: "The AI system is evaluated regularly for safety risks – as identified in the MAP function. The AI system to be deployed is demonstrated to be safe, its residual negative risk does not exceed the risk tolerance, and it can fail safely, particularly if made to operate beyond its knowledge limits. Safety metrics reflect system reliability and robustness, real-time monitoring, and response times for AI system failures."},
				{ID: "MEASURE 2.7", Function: "MEASURE", Title: "AI system security and resilience – as identified in the MAP function – are evaluated and documented."},
				{ID: "MEASURE 2.8", Function: "MEASURE", Title: "Risks associated with transparency and accountability – as identified in the MAP function – are examined and documented."},
				{ID: "MEASURE 2.10", Function: "MEASURE", Title: "Privacy risk of the AI system – as identified in the MAP function – is examined and documented."},
				{ID: "MEASURE 3.1", Function: "MEASURE", Title: "Approaches, personnel, and documentation are in place to regularly identify and track existing, unanticipated, and emergent AI risks based on factors such as intended and actual performance in deployed contexts."},
				{ID: "MANAGE 1.3", Function: "MANAGE", Title: "Responses to the AI risks deemed high priority, as identified by the MAP function, are developed, planned, and documented. Risk response options can include mitigating, transferring, avoiding, or accepting."},
				{ID: "MANAGE 2.4", Function: "MANAGE", Title: "Mechanisms are in place and applied, and responsibilities are assigned and understood, to supersede, disengage, or deactivate AI systems that demonstrate performance or outcomes inconsistent with intended use."},
				{ID: "MANAGE 3.1", Function: "MANAGE", Title: "AI risks and benefits from third-party resources are regularly monitored, and risk controls are applied and documented."},
				{ID: "MANAGE 4.1", Function: "MANAGE", Title: "Post-deployment AI system monitoring plans are implemented, including mechanisms for capturing and evaluating input from users and other relevant AI actors, appeal and override, decommissioning, incident response, recovery, and change management."},
				{ID: "MANAGE 4.3", Function: "MANAGE", Title: "Incidents and errors are communicated to relevant AI actors, including affected communities. Processes for tracking, responding to, and recovering from incidents and errors are followed and documented."},
			},
		},
		{
			ID:   NCCoE,
			Name: "NCCoE: Accelerating the Adoption of Software and AI Agent Identity and Authorization",
			Source: "NIST National Cybersecurity Center of Excellence concept paper (initial public draft, February 5, 2026), " +
				"its question areas (identification, authentication, authorization, auditing and non-repudiation, " +
				"prompt injection prevention and mitigation); the paper does not number them: the IDs and the text after each heading are ours: " +
				"https://csrc.nist.gov/pubs/other/2026/02/05/accelerating-the-adoption-of-software-and-ai-agent/ipd",
			Items: []Item{
				{ID: "identification", Title: "Identification: distinguishing AI agents from human users and other software, and the metadata that identifies them"},
				{ID: "authentication", Title: "Authentication: how an agent proves its identity, and how its credentials are issued, managed and expire"},
				{ID: "authorization", Title: "Authorization: least privilege and zero-trust decisions on each action an agent takes, including human approval and revocation"},
				{ID: "auditing", Title: "Auditing and non-repudiation: tying every agent action to an identity in records that cannot be altered unnoticed", Scope: "non-repudiation needs the ed25519 token scheme: with hmac, gatehouse holds the secret and could have minted the token itself"},
				{ID: "prompt-injection", Title: "Prompt injection prevention and mitigation", Scope: "partial: a heuristic scanner and policy limits; no scanner catches every injection"},
			},
		},
	}
}
