package authz

import (
	"encoding/json"
	"fmt"
)

// Change is one operation on an engine, as Gatehouse's change feed carries
// it (GET /v1/pdp/changes): what a standalone decision point, or an
// application checking in-process with the Go SDK, applies to stay
// current. Data is the value the operation puts (a User, a Tenant, a
// Resource, a Role, an Assignment, a ResourceRole, a Relation, an Instance,
// a Tuple, a ConditionSet, a SetRule), {"key": …} or {"resource": …,
// "key": …} for a deletion (the Tuple or SetRule itself for theirs), a JSON
// array of changes for a batch, or a whole Data for a reset.
type Change struct {
	Op   string          `json:"op"`
	Data json.RawMessage `json:"data"`
}

// Operations of a Change.
const (
	OpPutUser        = "put_user"
	OpDeleteUser     = "delete_user"
	OpPutTenant      = "put_tenant"
	OpDeleteTenant   = "delete_tenant"
	OpPutResource    = "put_resource"
	OpDeleteResource = "delete_resource"
	OpPutRole        = "put_role"
	OpDeleteRole     = "delete_role"
	OpAssign         = "assign"
	OpUnassign       = "unassign"

	OpPutResourceRole    = "put_resource_role"    // data: a ResourceRole
	OpDeleteResourceRole = "delete_resource_role" // data: {resource, key}
	OpPutRelation        = "put_relation"         // data: a Relation
	OpDeleteRelation     = "delete_relation"      // data: {resource, key}
	OpPutInstance        = "put_instance"         // data: an Instance
	OpDeleteInstance     = "delete_instance"      // data: {resource, key}
	OpPutTuple           = "put_tuple"            // data: a Tuple
	OpDeleteTuple        = "delete_tuple"         // data: a Tuple
	OpPutConditionSet    = "put_condition_set"    // data: a ConditionSet
	OpDeleteConditionSet = "delete_condition_set" // data: {key}
	OpPutSetRule         = "put_set_rule"         // data: a SetRule
	OpDeleteSetRule      = "delete_set_rule"      // data: a SetRule
	// OpBatch carries the changes of one transaction (an import batch).
	OpBatch = "batch"
	// OpReset replaces everything the engine holds (a sandbox reset).
	OpReset = "reset"
)

// KeyRef is the data of a deletion.
type KeyRef struct {
	Key string `json:"key"`
}

// ResourceRef is the data of the deletion of something that belongs to a
// resource type (a role, a relation, an instance).
type ResourceRef struct {
	Resource string `json:"resource"`
	Key      string `json:"key"`
}

// Apply applies a change. A change that does not fit what the engine holds
// (an assignment of an unknown user, say) is an error: the caller should
// load the whole data again.
func (e *Engine) Apply(c Change) error {
	var err error
	switch c.Op {
	case OpPutUser:
		var u User
		if err = json.Unmarshal(c.Data, &u); err == nil {
			e.PutUser(u)
		}
	case OpPutTenant:
		var t Tenant
		if err = json.Unmarshal(c.Data, &t); err == nil {
			e.PutTenant(t)
		}
	case OpPutResource:
		var r Resource
		if err = json.Unmarshal(c.Data, &r); err == nil {
			e.PutResource(r)
		}
	case OpPutRole:
		var r Role
		if err = json.Unmarshal(c.Data, &r); err == nil {
			err = e.PutRole(r)
		}
	case OpAssign:
		var a Assignment
		if err = json.Unmarshal(c.Data, &a); err == nil {
			err = e.Assign(a)
		}
	case OpUnassign:
		var a Assignment
		if err = json.Unmarshal(c.Data, &a); err == nil {
			e.Unassign(a)
		}
	case OpDeleteUser, OpDeleteTenant, OpDeleteResource, OpDeleteRole:
		var k KeyRef
		if err = json.Unmarshal(c.Data, &k); err != nil {
			break
		}
		switch c.Op {
		case OpDeleteUser:
			e.DeleteUser(k.Key)
		case OpDeleteTenant:
			e.DeleteTenant(k.Key)
		case OpDeleteResource:
			e.DeleteResource(k.Key)
		default:
			e.DeleteRole(k.Key)
		}
	case OpPutResourceRole:
		var r ResourceRole
		if err = json.Unmarshal(c.Data, &r); err == nil {
			err = e.PutResourceRole(r)
		}
	case OpDeleteResourceRole:
		var r ResourceRef
		if err = json.Unmarshal(c.Data, &r); err == nil {
			e.DeleteResourceRole(r.Resource, r.Key)
		}
	case OpPutRelation:
		var r Relation
		if err = json.Unmarshal(c.Data, &r); err == nil {
			err = e.PutRelation(r)
		}
	case OpDeleteRelation:
		var r ResourceRef
		if err = json.Unmarshal(c.Data, &r); err == nil {
			e.DeleteRelation(r.Resource, r.Key)
		}
	case OpPutInstance:
		var in Instance
		if err = json.Unmarshal(c.Data, &in); err == nil {
			err = e.PutInstance(in)
		}
	case OpDeleteInstance:
		var r ResourceRef
		if err = json.Unmarshal(c.Data, &r); err == nil {
			e.DeleteInstance(r.Resource, r.Key)
		}
	case OpPutTuple:
		var t Tuple
		if err = json.Unmarshal(c.Data, &t); err == nil {
			err = e.PutTuple(t)
		}
	case OpDeleteTuple:
		var t Tuple
		if err = json.Unmarshal(c.Data, &t); err == nil {
			e.DeleteTuple(t)
		}
	case OpPutConditionSet:
		var cs ConditionSet
		if err = json.Unmarshal(c.Data, &cs); err == nil {
			err = e.PutConditionSet(cs)
		}
	case OpDeleteConditionSet:
		var k KeyRef
		if err = json.Unmarshal(c.Data, &k); err == nil {
			e.DeleteConditionSet(k.Key)
		}
	case OpPutSetRule:
		var r SetRule
		if err = json.Unmarshal(c.Data, &r); err == nil {
			err = e.PutSetRule(r)
		}
	case OpDeleteSetRule:
		var r SetRule
		if err = json.Unmarshal(c.Data, &r); err == nil {
			e.DeleteSetRule(r)
		}
	case OpBatch:
		var parts []Change
		if err = json.Unmarshal(c.Data, &parts); err != nil {
			break
		}
		for _, p := range parts {
			if err = e.Apply(p); err != nil {
				break
			}
		}
	case OpReset:
		var d Data
		if err = json.Unmarshal(c.Data, &d); err == nil {
			err = e.Load(d)
		}
	default:
		return fmt.Errorf("%w: unknown change op %q", ErrInvalid, c.Op)
	}
	if err != nil {
		return fmt.Errorf("apply %s: %w", c.Op, err)
	}
	return nil
}
