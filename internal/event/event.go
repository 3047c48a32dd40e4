// Package event is the vocabulary of what happened in Gatehouse: the events
// that webhooks deliver. Capabilities emit them through their store, in the
// same transaction as the change that caused them (an outbox), so that a
// committed change always produces its event and a rolled-back one never
// does.
package event

import (
	"encoding/json"
	"slices"
	"time"
)

// Event is one thing that happened. Data is the changed item in the same
// shape the v1 API answers with (for a deletion, its id and key).
type Event struct {
	ID         string
	Type       string
	OrgID      string // filled from EnvID by the store when empty
	ProjectID  string // "" for organization-wide events
	EnvID      string // "" for organization- and project-wide events
	OccurredAt time.Time
	Data       any
	// Only, when set, delivers the event to this one endpoint (a test
	// delivery); otherwise every matching subscription gets it.
	Only string
}

// Payload is the body a webhook receives: the documented {event,
// timestamp, data}, plus the event id and where it happened.
type Payload struct {
	ID             string          `json:"id" doc:"The event id: the same in every delivery and retry of this event (deduplicate on it)."`
	Event          string          `json:"event" doc:"The event type, e.g. user.created."`
	Timestamp      time.Time       `json:"timestamp" doc:"When it happened."`
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id,omitempty"`
	EnvironmentID  string          `json:"environment_id,omitempty"`
	Data           json.RawMessage `json:"data"`
}

// Body returns the JSON body webhooks receive for e.
func (e Event) Body() ([]byte, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Payload{ID: e.ID, Event: e.Type, Timestamp: e.OccurredAt.UTC(), OrganizationID: e.OrgID,
		ProjectID: e.ProjectID, EnvironmentID: e.EnvID, Data: data})
}

// DeletedUntil is the data of a soft deletion: what was deleted and until
// when it can be restored.
type DeletedUntil struct {
	ID         string    `json:"id"`
	Key        string    `json:"key"`
	DeletedAt  time.Time `json:"deleted_at"`
	PurgeAfter time.Time `json:"purge_after"`
}

// Event types.
const (
	UserCreated = "user.created"
	UserUpdated = "user.updated"
	UserDeleted = "user.deleted"

	TenantCreated = "tenant.created"
	TenantUpdated = "tenant.updated"
	TenantDeleted = "tenant.deleted"

	ResourceCreated = "resource.created"
	ResourceUpdated = "resource.updated"
	ResourceDeleted = "resource.deleted"

	RoleCreated = "role.created"
	RoleUpdated = "role.updated"
	RoleDeleted = "role.deleted"

	RoleAssignmentCreated = "role_assignment.created"
	RoleAssignmentDeleted = "role_assignment.deleted"

	ResourceRoleCreated      = "resource_role.created"
	ResourceRoleUpdated      = "resource_role.updated"
	ResourceRoleDeleted      = "resource_role.deleted"
	RelationCreated          = "relation.created"
	RelationDeleted          = "relation.deleted"
	ResourceInstanceCreated  = "resource_instance.created"
	ResourceInstanceUpdated  = "resource_instance.updated"
	ResourceInstanceDeleted  = "resource_instance.deleted"
	RelationshipTupleCreated = "relationship_tuple.created"
	RelationshipTupleDeleted = "relationship_tuple.deleted"
	ConditionSetCreated      = "condition_set.created"
	ConditionSetUpdated      = "condition_set.updated"
	ConditionSetDeleted      = "condition_set.deleted"
	SetRuleCreated           = "set_rule.created"
	SetRuleDeleted           = "set_rule.deleted"

	OrganizationDeleted  = "organization.deleted"
	OrganizationRestored = "organization.restored"
	ProjectCreated       = "project.created"
	ProjectUpdated       = "project.updated"
	ProjectDeleted       = "project.deleted"
	ProjectRestored      = "project.restored"
	EnvironmentCreated   = "environment.created"
	EnvironmentUpdated   = "environment.updated"
	EnvironmentDeleted   = "environment.deleted"
	EnvironmentRestored  = "environment.restored"
	EnvironmentReset     = "environment.reset"

	MemberCreated = "member.created"
	MemberUpdated = "member.updated"
	MemberDeleted = "member.deleted"

	APIKeyCreated = "api_key.created"
	APIKeyUpdated = "api_key.updated"
	APIKeyRevoked = "api_key.revoked"
	APIKeyRotated = "api_key.rotated"

	JobCompleted = "job.completed"
	JobFailed    = "job.failed"
	JobCancelled = "job.cancelled"

	WebhookDisabled = "webhook.disabled"
	WebhookTest     = "webhook.test"

	// Instance-wide: the status page (delivered to the endpoints of every
	// organization that subscribed to them by name, never through "*").
	StatusComponentChanged = "status.component_changed"
	StatusIncidentCreated  = "status.incident_created"
	StatusIncidentUpdated  = "status.incident_updated"
	StatusIncidentResolved = "status.incident_resolved"
)

// Info describes one event type.
type Info struct {
	Type        string `json:"type"`
	Description string `json:"description"`
}

var catalog = []Info{
	{UserCreated, "A user was created (data: the user)."},
	{UserUpdated, "A user was changed (data: the user)."},
	{UserDeleted, "A user was deleted with its role assignments (data: id and key)."},
	{TenantCreated, "A tenant was created (data: the tenant)."},
	{TenantUpdated, "A tenant was changed (data: the tenant)."},
	{TenantDeleted, "A tenant was deleted with the role assignments in it (data: id and key)."},
	{ResourceCreated, "A resource type was created (data: the resource type)."},
	{ResourceUpdated, "A resource type was changed (data: the resource type)."},
	{ResourceDeleted, "A resource type was deleted (data: id and key)."},
	{RoleCreated, "A role was created (data: the role)."},
	{RoleUpdated, "A role was changed (data: the role)."},
	{RoleDeleted, "A role was deleted with its assignments (data: id and key)."},
	{RoleAssignmentCreated, "A user was given a role in a tenant, or on a resource instance (data: the role assignment)."},
	{RoleAssignmentDeleted, "A role was taken from a user in a tenant, or on a resource instance (data: the role assignment)."},
	{ResourceRoleCreated, "A role of a resource type was created (data: the role)."},
	{ResourceRoleUpdated, "A role of a resource type was changed (data: the role)."},
	{ResourceRoleDeleted, "A role of a resource type was deleted with its assignments (data: id, key and resource)."},
	{RelationCreated, "A relation of a resource type was declared (data: the relation)."},
	{RelationDeleted, "A relation of a resource type was deleted (data: id, key and resource)."},
	{ResourceInstanceCreated, "A resource instance was created (data: the instance)."},
	{ResourceInstanceUpdated, "A resource instance's tenant or attributes changed (data: the instance)."},
	{ResourceInstanceDeleted, "A resource instance was deleted with its tuples and role assignments (data: id, key and resource)."},
	{RelationshipTupleCreated, "A relationship tuple was created (data: the tuple)."},
	{RelationshipTupleDeleted, "A relationship tuple was deleted (data: the tuple)."},
	{ConditionSetCreated, "A user set or resource set was created (data: the condition set)."},
	{ConditionSetUpdated, "A condition set was changed (data: the condition set)."},
	{ConditionSetDeleted, "A condition set was deleted with its set rules (data: id and key)."},
	{SetRuleCreated, "A set rule was created (data: the rule)."},
	{SetRuleDeleted, "A set rule was deleted (data: the rule)."},
	{OrganizationDeleted, "The organization was deleted: restorable until purge_after (data: id, key, deleted_at, purge_after)."},
	{OrganizationRestored, "The organization was restored (data: id and key)."},
	{ProjectCreated, "A project was created (data: the project)."},
	{ProjectUpdated, "A project was changed (data: the project)."},
	{ProjectDeleted, "A project was deleted with its environments: restorable until purge_after (data: id, key, deleted_at, purge_after)."},
	{ProjectRestored, "A deleted project was restored with its environments (data: the project)."},
	{EnvironmentCreated, "An environment was created (data: the environment)."},
	{EnvironmentUpdated, "An environment or its settings changed (data: the environment)."},
	{EnvironmentDeleted, "An environment was deleted: restorable until purge_after (data: id, key, deleted_at, purge_after)."},
	{EnvironmentRestored, "A deleted environment was restored (data: the environment)."},
	{EnvironmentReset, "A sandbox environment's data was reset (data: the environment and the job)."},
	{MemberCreated, "A member was added (data: the member)."},
	{MemberUpdated, "A member's name or role changed (data: the member)."},
	{MemberDeleted, "A member was removed (data: id and email)."},
	{APIKeyCreated, "An API key was created (data: the key, never its token)."},
	{APIKeyUpdated, "An API key was renamed or its expiry brought forward (data: the key)."},
	{APIKeyRevoked, "An API key was revoked (data: the key)."},
	{APIKeyRotated, "An API key was rotated (data: the old key and the new key's id)."},
	{JobCompleted, "A job succeeded (data: the job)."},
	{JobFailed, "A job ended with failed tasks (data: the job)."},
	{JobCancelled, "A job was cancelled (data: the job)."},
	{WebhookDisabled, "A webhook endpoint was disabled after failing continuously, or answered 410 Gone (data: the endpoint)."},
	{WebhookTest, "A test event sent by hand to one endpoint (POST /v1/webhooks/{webhook}/test)."},
	{StatusComponentChanged, "Instance-wide: a component of the status page changed state (data: component, state, previous_state, since). Sent only to endpoints that name it."},
	{StatusIncidentCreated, "Instance-wide: the instance operator opened an incident on the status page (data: the incident). Sent only to endpoints that name it."},
	{StatusIncidentUpdated, "Instance-wide: the operator posted an update on an incident (data: the incident). Sent only to endpoints that name it."},
	{StatusIncidentResolved, "Instance-wide: the operator resolved an incident (data: the incident). Sent only to endpoints that name it."},
}

// Catalog lists every event type, in a stable order. The slice is a copy.
func Catalog() []Info { return slices.Clone(catalog) }

// Known reports whether t is an event type of the catalog.
func Known(t string) bool {
	return slices.ContainsFunc(catalog, func(i Info) bool { return i.Type == t })
}

// All subscribes an endpoint to every event type.
const All = "*"

// Deleted is the data of a deletion event.
type Deleted struct {
	ID  string `json:"id"`
	Key string `json:"key,omitempty"`
	// Resource names the resource type of something keyed within one (a
	// resource role, a relation, an instance).
	Resource string `json:"resource,omitempty"`
}
