package authz

import "encoding/json"

// Fine-grained authorization: besides roles in tenants (RBAC), an engine
// holds resource instances, roles on resource types granted on single
// instances, relationship tuples between instances, role derivations that
// carry a role along relationships, and attribute rules (ABAC).
//
// The rules, all decided by Engine.Decide:
//
//  1. Tenant roles (RBAC). A user holding, in tenant T, a tenant Role whose
//     permissions include "R:A" may do A on every resource of type R in T,
//     instances included.
//  2. Instance roles. A ResourceRole is defined on one resource type R and
//     grants actions of R (Permissions are action keys of R; Extends names
//     other roles of R). An Assignment with ResourceInstance "R:k" gives a
//     user that role on the instance R:k only.
//  3. Relationship tuples. A Relation declared on type O names the type S of
//     its subjects; the Tuple {Subject: "S:s", Relation: rel, Object: "O:o"}
//     links instance S:s to instance O:o ("folder:f1 is parent of
//     document:d1"). A tuple whose subject is a subject set "S:s#r" and
//     whose Relation is a role of O gives every holder of role r on S:s the
//     role Relation on O:o ("members of team:t1 are editors of folder:f1").
//  4. Role derivations. A ResourceRole's GrantedTo lists Derivations: a user
//     holding Role on an instance of OnResource linked to this instance by
//     the relation LinkedByRelation (declared on this role's type) holds
//     this role here (Permit's implicit grants: editor of a folder ⇒ editor
//     of its documents; transitively through nested folders when folder's
//     editor derives from a parent folder's editor). With OnResource
//     TenantResource, Role is a tenant role: its holders in the instance's
//     tenant hold this role on every instance of the type in that tenant.
//     The graph of tuples must stay acyclic and at most MaxDepth long: a
//     write that would break either is refused (ErrInvalid), so checks never
//     meet a cycle.
//  5. Attribute rules (ABAC). A ConditionSet of type UserSet selects users,
//     one of type ResourceSet selects resources of one type, by Conditions
//     on the attributes of the user ("user.x"), the resource ("resource.x"),
//     its tenant ("tenant.x") and the request's context ("context.x"). A
//     SetRule lets the users of a user set do one action on the resources of
//     a resource set. A check may pass attributes inline (they replace the
//     stored ones of the same name) or rely on the stored ones.
//
// Details every engine and model follow: attribute rules need the check's
// tenant to exist; on a check by type (no Key) "resource.key" is missing;
// in and not-in compare a single-valued attribute with a list; tuples may
// link instances of different tenants; a condition set used by set rules
// cannot change its type or resource type.
//
// A check is allowed when any rule grants it. On an instance (Request.Key
// set) that the engine holds, the instance's own tenant is the tenant of the
// check; an instance the engine does not hold is checked by rules 1 and 5
// only, in the request's tenant, as Permit does.

// DataFormat is the version of Data's shape: 1 held roles in tenants only,
// 2 adds the fine-grained model. Snapshots carry it, and a reader refuses
// data of a newer format than it knows instead of silently ignoring the
// parts it cannot read.
const DataFormat = 2

// TenantResource, as a Derivation's OnResource, makes its Role a tenant role.
const TenantResource = "__tenant"

// MaxDepth bounds the length of a chain of relationship tuples.
const MaxDepth = 32

// MaxResourceRoles bounds the roles one resource type may define.
const MaxResourceRoles = 64

// Instance is one resource of a type (a document, a folder). It belongs to
// one tenant.
type Instance struct {
	Resource   string         `json:"resource"`
	Key        string         `json:"key"`
	Tenant     string         `json:"tenant"` // "" means DefaultTenant
	Attributes map[string]any `json:"attributes,omitempty"`
}

// ResourceRole is a role defined on a resource type, assigned to users on
// single instances of that type.
type ResourceRole struct {
	Resource    string       `json:"resource"`
	Key         string       `json:"key"`
	Name        string       `json:"name,omitempty"`
	Permissions []string     `json:"permissions"` // actions of Resource
	Extends     []string     `json:"extends,omitempty"`
	GrantedTo   []Derivation `json:"granted_to,omitempty"`
}

// Derivation grants a ResourceRole to the holders of Role on an instance of
// OnResource related to the instance by LinkedByRelation (see rule 4).
type Derivation struct {
	Role             string `json:"role"`
	OnResource       string `json:"on_resource"`
	LinkedByRelation string `json:"linked_by_relation,omitempty"`
}

// Relation declares that instances of Subject may be related to instances
// of Resource under Key ("folder" is "parent" of "document": Resource
// document, Key parent, Subject folder).
type Relation struct {
	Resource string `json:"resource"`
	Key      string `json:"key"`
	Name     string `json:"name,omitempty"`
	Subject  string `json:"subject"`
}

// Tuple relates two instances ("folder:f1" parent "document:d1"), or the
// holders of a role on an instance to a role on another
// ("team:t1#member" editor "folder:f1").
type Tuple struct {
	Subject  string `json:"subject"`
	Relation string `json:"relation"`
	Object   string `json:"object"`
}

// Condition set types.
const (
	UserSet     = "userset"
	ResourceSet = "resourceset"
)

// ConditionSet selects users or resources by their attributes. Conditions
// are Permit's condition JSON: {"allOf": [...]}, {"anyOf": [...]},
// {"not": {...}} or a comparison {"user.department": {"equals": "finance"}};
// see CompileConditions for the operators.
type ConditionSet struct {
	Key        string          `json:"key"`
	Name       string          `json:"name,omitempty"`
	Type       string          `json:"type"`               // UserSet or ResourceSet
	Resource   string          `json:"resource,omitempty"` // a resource set's type
	Conditions json.RawMessage `json:"conditions"`
}

// SetRule lets the users of UserSet do Action on the resources of
// ResourceSet (an action of the resource set's type).
type SetRule struct {
	UserSet     string `json:"user_set"`
	Action      string `json:"action"`
	ResourceSet string `json:"resource_set"`
}

// Request is a check: may User (with UserAttributes) do Action on the
// resource of type Resource with key Key (none: any resource of the type)
// in Tenant, in Context? Attributes given here replace stored ones of the
// same name for this check only.
type Request struct {
	User               string
	UserAttributes     map[string]any
	Action             string
	Resource           string
	Key                string
	Tenant             string
	ResourceAttributes map[string]any
	Context            map[string]any
}

// Via says which kind of rule granted a check.
type Via uint8

// Kinds of grant.
const (
	ViaNone         Via = iota
	ViaTenantRole       // a tenant role (rule 1); Decision.Role names it
	ViaInstanceRole     // a role on the instance, held directly or derived (rules 2–4); Decision.Role names it
	ViaSetRule          // an attribute rule (rule 5); Decision.Role names the user set, Decision.Set the resource set
)

var viaText = [...]string{ViaNone: "", ViaTenantRole: "tenant_role", ViaInstanceRole: "instance_role", ViaSetRule: "set_rule"}

func (v Via) String() string {
	if int(v) < len(viaText) {
		return viaText[v]
	}
	return "via(?)"
}

// Step is one link of the path that granted a check: a fact or a rule.
// Subject Relation Object reads as a sentence: "user:ada editor folder:f1",
// "folder:f1 parent document:d1", "user:ada admin tenant:acme".
type Step struct {
	Kind     string `json:"kind"` // one of the Step kinds below
	Subject  string `json:"subject,omitempty"`
	Relation string `json:"relation,omitempty"`
	Object   string `json:"object,omitempty"`
	// Rule names the derivation or set rule the step applies
	// ("folder#editor ⇒ document#editor by parent", "approvers × approve × small-invoices").
	Rule string `json:"rule,omitempty"`
}

// Step kinds.
const (
	StepTenantRole   = "tenant_role"   // user Subject holds tenant role Relation in tenant Object
	StepInstanceRole = "instance_role" // user Subject holds role Relation on instance Object (assigned)
	StepTuple        = "tuple"         // a relationship tuple
	StepDerived      = "derived"       // user Subject holds role Relation on Object by the derivation Rule
	StepSetRule      = "set_rule"      // the set rule Rule matched
)
