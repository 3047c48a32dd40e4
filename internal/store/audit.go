package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/google/uuid"
)

// The audit trail (package audit). Every event a write emits (Emit) is
// also an audit entry, written in the same transaction; the few changes
// that emit no event (organization settings, webhook endpoints, sign-ins,
// setup links) record theirs with RecordAudit, in their transaction too.
//
// The object before a change is what the transaction read of it first
// (remember, called by the Get methods a write uses), so no write method
// has to pass it along; an object the transaction did not read has no
// "before".

const auditCols = "id, org_id, project_id, env_id, created_at, actor_type, actor_id, actor_name, client_ip, request_id, action, object_type, object_id, object_key, before_doc, after_doc"

// unaudited are events that record no change of anyone's data: the
// results of background work and instance-wide status.
func unaudited(typ string) bool {
	return strings.HasPrefix(typ, "job.") || strings.HasPrefix(typ, "status.") || typ == event.WebhookTest
}

// remember keeps, in a write transaction, the first state of an object the
// transaction read: the "before" of its audit entry.
func (s *Store) remember(v any) {
	if s.tx == nil || s.before == nil || v == nil {
		return
	}
	doc, err := json.Marshal(auditView(v))
	if err != nil {
		return
	}
	var head struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(doc, &head) != nil || head.ID == "" {
		return
	}
	if _, ok := s.pending[head.ID]; ok {
		return // a batch read it first
	}
	if _, ok := s.before[head.ID]; !ok {
		s.before[head.ID] = doc
	}
}

// beforeOf is the first state the transaction read of object id (nil when
// it read none), marshalling a batch read's copy on first use.
func (s *Store) beforeOf(id string) json.RawMessage {
	if id == "" || s.before == nil {
		return nil
	}
	if doc, ok := s.before[id]; ok {
		return doc
	}
	v, ok := s.pending[id]
	if !ok {
		return nil
	}
	delete(s.pending, id)
	doc, err := json.Marshal(auditView(v))
	if err != nil {
		return nil
	}
	s.before[id] = doc
	return doc
}

// auditView is the shape an object is recorded in: the v1 API's, plus the
// settings an environment's API shape leaves to its own endpoint.
func auditView(v any) any {
	switch x := v.(type) {
	case *apikey.Key:
		return x.View(time.Now()) // never its hash
	case *tenancy.Environment:
		return struct {
			*tenancy.Environment
			Settings tenancy.EnvSettings `json:"settings"`
		}{x, x.Settings}
	case *tenancy.Organization:
		return struct {
			ID       string              `json:"id"`
			Key      string              `json:"key"`
			Name     string              `json:"name"`
			Settings tenancy.OrgSettings `json:"settings"`
		}{x.ID, x.Key, x.Name, x.Settings}
	}
	return v
}

// objectOf names the object an event's data is: its id and key (or email,
// or name).
func objectOf(doc json.RawMessage) (id, key string) {
	var head struct {
		ID    string          `json:"id"`
		Key   string          `json:"key"`
		Email string          `json:"email"`
		Name  string          `json:"name"`
		Old   json.RawMessage `json:"old_key"` // api_key.rotated
	}
	if json.Unmarshal(doc, &head) != nil {
		return "", ""
	}
	if head.ID == "" && len(head.Old) > 0 {
		return objectOf(head.Old)
	}
	key = head.Key
	if key == "" {
		key = head.Email
	}
	if key == "" {
		key = head.Name
	}
	return head.ID, key
}

// AuditOnly records events in the audit trail only, in s's transaction
// (for writes that send no webhook event, such as a bulk import's rows).
func (s *Store) AuditOnly(ctx context.Context, events ...event.Event) error {
	if s.tx == nil {
		return s.InTx(ctx, func(tx *Store) error { return tx.AuditOnly(ctx, events...) })
	}
	for i := range events {
		ev := &events[i]
		if ev.OrgID == "" && ev.EnvID != "" {
			org, proj, err := s.envOrg(ctx, ev.EnvID)
			if err != nil {
				return fmt.Errorf("audit %s: environment %s: %w", ev.Type, ev.EnvID, err)
			}
			ev.OrgID, ev.ProjectID = org, proj
		}
		if err := s.auditEvent(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// envOrg is environment envID's organization and project, looked up once
// per transaction.
func (s *Store) envOrg(ctx context.Context, envID string) (org, project string, err error) {
	if v, ok := s.envOrgs[envID]; ok {
		return v[0], v[1], nil
	}
	if err := s.tx.QueryRowContext(ctx, "SELECT org_id, project_id FROM environments WHERE id = $1", envID).Scan(&org, &project); err != nil {
		return "", "", err
	}
	if s.envOrgs == nil {
		s.envOrgs = map[string][2]string{}
	}
	s.envOrgs[envID] = [2]string{org, project}
	return org, project, nil
}

// auditEvent records ev, emitted in s's transaction, as an audit entry.
func (s *Store) auditEvent(ctx context.Context, ev *event.Event) error {
	if unaudited(ev.Type) || ev.OrgID == "" {
		return nil
	}
	after, err := json.Marshal(auditView(ev.Data))
	if err != nil {
		return fmt.Errorf("audit %s: %w", ev.Type, err)
	}
	objType, verb, _ := strings.Cut(ev.Type, ".")
	e := audit.AuditEntry{OrganizationID: ev.OrgID, ProjectID: ev.ProjectID, EnvironmentID: ev.EnvID, Time: ev.OccurredAt,
		Action: ev.Type, ObjectType: objType}
	e.ObjectID, e.ObjectKey = objectOf(after)
	if e.ObjectKey == "" {
		e.ObjectKey = auditObjectKey(ev.Data)
	}
	before := s.beforeOf(e.ObjectID)
	switch {
	case verb == "created":
		e.After = after
	case verb == "deleted":
		// The deletion's data names the object; what it was is the
		// transaction's read of it, else that name.
		e.Before = before
		if e.Before == nil {
			e.Before = after
		}
	default:
		e.Before, e.After = before, after
	}
	return s.RecordAudit(ctx, e)
}

// auditObjectKey names an object without a key of its own, such as a role
// assignment ("role@tenant → user").
func auditObjectKey(data any) string {
	b, err := json.Marshal(data)
	if err != nil {
		return ""
	}
	var a struct {
		User, Role, Tenant, Resource, Subject, Relation, Object string
	}
	if json.Unmarshal(b, &a) != nil {
		return ""
	}
	switch {
	case a.User != "" && a.Role != "":
		on := a.Tenant
		if on == "" {
			on = a.Resource
		}
		return a.Role + "@" + on + " → " + a.User
	case a.Subject != "" && a.Relation != "":
		return a.Subject + " " + a.Relation + " " + a.Object
	}
	return ""
}

// RecordAudit writes an audit entry in s's transaction (or on its own).
// Empty actor fields come from ctx (audit.ActorFrom); secrets are dropped
// from Before and After.
func (s *Store) RecordAudit(ctx context.Context, e audit.AuditEntry) error {
	if e.ID == "" {
		e.ID = uuid.Must(uuid.NewV7()).String()
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.ActorType == "" {
		a := audit.ActorFrom(ctx)
		e.ActorType, e.ActorID, e.ActorName = a.Type, a.ID, a.Name
		if e.ClientIP == "" {
			e.ClientIP = a.IP
		}
		if e.RequestID == "" {
			e.RequestID = a.RequestID
		}
	}
	if e.ProjectID == "" && e.EnvironmentID != "" && s.tx != nil {
		// as Emit fills it: the environment's project
		_, e.ProjectID, _ = s.envOrg(ctx, e.EnvironmentID)
	}
	before, after := audit.Redact(e.ObjectType, e.Before), audit.Redact(e.ObjectType, e.After)
	row := []any{e.ID, e.OrganizationID, e.ProjectID, e.EnvironmentID, micros(e.Time), e.ActorType, e.ActorID, e.ActorName, e.ClientIP, e.RequestID,
		e.Action, e.ObjectType, e.ObjectID, e.ObjectKey, string(before), string(after)}
	if s.tx == nil || s.audit == nil {
		return exec(ctx, s.writer(), "audit entry", "INSERT INTO audit_events ("+auditCols+") VALUES "+s.placeholders(1, auditColCount), row...)
	}
	// In a transaction: kept, and written with the transaction's other
	// entries by multi-row INSERTs (flushAudit) before it commits.
	s.audit.args = append(s.audit.args, row...)
	s.audit.n++
	s.audit.bytes += len(before) + len(after)
	if s.audit.n >= auditBatchRows || s.audit.bytes >= auditBatchBytes {
		return s.flushAudit(ctx)
	}
	return nil
}

// auditColCount is the number of auditCols.
const auditColCount = 16

// auditBatchRows is how many entries one INSERT of a transaction's trail
// carries at most: as the other bulk writes (bulkRows), 6,400 bound
// values, well within SQLite's 32,766 and PostgreSQL's 65,535 (larger
// batches measured no faster on PostgreSQL and hold more memory). A
// variable for the tests of the flush boundaries and the benchmark's
// one-entry-per-INSERT baseline (1).
var auditBatchRows = bulkRows

// auditBatchBytes is how many bytes of documents (before and after) a
// transaction holds at most before it writes them: entries of large
// objects flush before auditBatchRows of them would hold hundreds of MB.
var auditBatchBytes = 4 << 20

// auditBuf holds the entries a transaction recorded and has not written
// yet: auditColCount values each, and bytes of documents.
type auditBuf struct {
	args  []any
	n     int
	bytes int
}

// auditChunks splits n entries into the INSERTs that write them: a full
// batch as one, anything less as power-of-two parts, largest first (so
// the database sees at most log2(auditBatchRows)+2 statement shapes, and
// PostgreSQL plans and caches few).
func auditChunks(n int) []int {
	var out []int
	for n > 0 {
		k := auditBatchRows
		if n < k {
			k = 1 << (bits.Len(uint(n)) - 1)
		}
		out = append(out, k)
		n -= k
	}
	return out
}

// auditInserts caches the INSERTs of auditChunks per engine and size
// (a full batch's text is some 40 kB).
var auditInserts sync.Map // auditInsertKey → string

type auditInsertKey struct {
	engine string
	rows   int
}

// auditInsert is the INSERT of n entries (a number auditChunks gives:
// few of them, all cached).
func (s *Store) auditInsert(n int) string {
	k := auditInsertKey{s.db.Engine, n}
	if q, ok := auditInserts.Load(k); ok {
		return q.(string)
	}
	q := "INSERT INTO audit_events (" + auditCols + ") VALUES " + s.placeholders(n, auditColCount)
	auditInserts.Store(k, q)
	return q
}

// flushAudit writes the entries s's transaction has kept (see
// RecordAudit), by the multi-row INSERTs of auditChunks. InTx calls it
// before committing (an error rolls the whole transaction back, so a
// change never commits without its entries), and RecordAudit when
// auditBatchRows or auditBatchBytes are kept (so a large import holds at
// most that much in memory).
func (s *Store) flushAudit(ctx context.Context) error {
	if s.audit == nil || s.audit.n == 0 {
		return nil
	}
	n, args := s.audit.n, s.audit.args
	s.audit.n, s.audit.args, s.audit.bytes = 0, s.audit.args[:0], 0
	off := 0
	for _, k := range auditChunks(n) {
		if err := exec(ctx, s.writer(), "audit entries", s.auditInsert(k), args[off:off+k*auditColCount]...); err != nil {
			return err
		}
		off += k * auditColCount
	}
	clear(args) // no references kept to the written documents
	return nil
}

func scanAudit(sc scanner) (audit.AuditEntry, error) {
	var e audit.AuditEntry
	var at int64
	var before, after string
	err := sc.Scan(&e.ID, &e.OrganizationID, &e.ProjectID, &e.EnvironmentID, &at, &e.ActorType, &e.ActorID, &e.ActorName, &e.ClientIP, &e.RequestID,
		&e.Action, &e.ObjectType, &e.ObjectID, &e.ObjectKey, &before, &after)
	e.Time = fromMicros(at)
	if before != "" {
		e.Before = json.RawMessage(before)
	}
	if after != "" {
		e.After = json.RawMessage(after)
	}
	return e, err
}

func auditWhere(f audit.Filter) *where {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.ProjectID != "", "project_id = ?", f.ProjectID)
	w.addIf(f.EnvID != "", "env_id = ?", f.EnvID)
	w.addIf(f.ActorType != "", "actor_type = ?", f.ActorType)
	w.addIf(f.ActorID != "", "actor_id = ?", f.ActorID)
	if prefix, ok := strings.CutSuffix(f.Action, "."); ok && prefix != "" {
		w.add("object_type = ?", prefix)
	} else {
		w.addIf(f.Action != "", "action = ?", f.Action)
	}
	w.addIf(f.ObjectType != "", "object_type = ?", f.ObjectType)
	w.addIf(f.ObjectID != "", "object_id = ?", f.ObjectID)
	if f.ObjectTypes != nil {
		if len(f.ObjectTypes) == 0 {
			w.raw("1 = 0")
		} else {
			marks := make([]string, len(f.ObjectTypes))
			for i, t := range f.ObjectTypes {
				w.args = append(w.args, t)
				marks[i] = fmt.Sprintf("$%d", len(w.args))
			}
			w.raw("object_type IN (" + strings.Join(marks, ", ") + ")")
		}
	}
	w.addIf(!f.Since.IsZero(), "created_at >= ?", micros(f.Since))
	w.addIf(!f.Until.IsZero(), "created_at < ?", micros(f.Until))
	return w
}

// ListAudit lists audit entries.
func (s *Store) ListAudit(ctx context.Context, f audit.Filter, page gatehouse.PageRequest) (gatehouse.Page[audit.AuditEntry], error) {
	return listPage(ctx, s.reader(), "audit_events", auditCols, auditWhere(f), map[string]string{"timestamp": "created_at"}, page, scanAudit)
}

// GetAudit returns one audit entry the filter admits.
func (s *Store) GetAudit(ctx context.Context, f audit.Filter, id string) (*audit.AuditEntry, error) {
	w := auditWhere(f)
	w.add("id = ?", id)
	return getOne(ctx, s.reader(), "audit entry", id, "SELECT "+auditCols+" FROM audit_events"+w.sql(), scanAudit, w.args...)
}

// auditExportChunk is how many entries ExportAudit reads at a time (a
// variable for the tests of its chunk boundaries).
var auditExportChunk = 500

// ExportAudit calls fn with every matching entry, oldest first, reading in
// chunks by keyset.
func (s *Store) ExportAudit(ctx context.Context, f audit.Filter, fn func(*audit.AuditEntry) error) error {
	chunk := auditExportChunk
	var lastAt int64 = -1
	lastID := ""
	for {
		w := auditWhere(f)
		if lastAt >= 0 {
			// As listRows: a range on created_at the indexes can seek, then
			// the tie on id.
			w.add("created_at >= ?", lastAt)
			w.add("(created_at > ?", lastAt)
			w.parts[len(w.parts)-1] += fmt.Sprintf(" OR id > $%d)", len(w.args)+1)
			w.args = append(w.args, lastID)
		}
		query := fmt.Sprintf("SELECT %s FROM audit_events%s ORDER BY created_at, id LIMIT %d", auditCols, w.sql(), chunk)
		rows, err := queryAll(ctx, s.reader(), query, scanAudit, w.args...)
		if err != nil {
			return fmt.Errorf("export audit trail: %w", err)
		}
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
		}
		if len(rows) < chunk {
			return nil
		}
		last := rows[len(rows)-1]
		lastAt, lastID = micros(last.Time), last.ID
	}
}

// DeleteAuditOf deletes an organization's whole trail (the organization
// was purged), in batches as PruneAudit, so that a large trail does not
// hold the writer long.
func (s *Store) DeleteAuditOf(ctx context.Context, orgID string) error {
	for {
		res, err := s.writer().ExecContext(ctx, "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE org_id = $1 LIMIT $2)", orgID, auditDeleteBatch)
		if err != nil {
			return fmt.Errorf("delete audit trail: %w", formatError(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n < int64(auditDeleteBatch) {
			return nil
		}
	}
}

// auditDeleteBatch is how many entries PruneAudit and DeleteAuditOf delete
// per statement (a variable for the tests).
var auditDeleteBatch = 5000

// PruneAudit deletes the audit entries older than before, in batches so
// that a year's first sweep does not hold the writer long.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.write.ExecContext(ctx, "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE created_at < $1 LIMIT $2)", micros(before), auditDeleteBatch)
		if err != nil {
			return total, fmt.Errorf("prune audit trail: %w", formatError(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(auditDeleteBatch) {
			return total, nil
		}
	}
}

// remembered passes a Get's answer on, remembering it (see remember).
func remembered[T any](s *Store) func(*T, error) (*T, error) {
	return func(v *T, err error) (*T, error) {
		if err == nil {
			s.remember(v)
		}
		return v, err
	}
}

// memberAudit is an entry on member id of orgID made by the member
// themself (a sign-in, a setup link used), from ip when known.
func (s *Store) memberAudit(ctx context.Context, orgID, id, action, ip string, after any) error {
	var email string
	_ = s.writer().QueryRowContext(ctx, "SELECT email FROM members WHERE org_id = $1 AND id = $2", orgID, id).Scan(&email)
	from := audit.ActorFrom(ctx)
	if ip == "" {
		ip = from.IP
	}
	e := audit.AuditEntry{OrganizationID: orgID, Action: action, ObjectType: "member", ObjectID: id, ObjectKey: email,
		ActorType: audit.ActorMember, ActorID: id, ActorName: email, ClientIP: ip, RequestID: from.RequestID}
	if after != nil {
		doc, err := json.Marshal(after)
		if err != nil {
			return err
		}
		e.After = doc
	}
	return s.RecordAudit(ctx, e)
}

// orgAudit is an entry on member id of orgID by ctx's actor.
func (s *Store) orgMemberAudit(ctx context.Context, orgID, id, action string, after any) error {
	var email string
	_ = s.writer().QueryRowContext(ctx, "SELECT email FROM members WHERE org_id = $1 AND id = $2", orgID, id).Scan(&email)
	doc, err := json.Marshal(after)
	if err != nil {
		return err
	}
	return s.RecordAudit(ctx, audit.AuditEntry{OrganizationID: orgID, Action: action, ObjectType: "member", ObjectID: id, ObjectKey: email, After: doc})
}

// rememberAll is remembered for a batch read (an import's rows): it keeps
// a copy of each object as read, marshalled only if the transaction writes
// it (most rows of a re-import are unchanged). A shallow copy suffices: a
// batch's merge replaces fields (and maps) whole, never edits them in place.
func rememberAll[T any](s *Store, id func(*T) string) func(map[string]*T, error) (map[string]*T, error) {
	return func(m map[string]*T, err error) (map[string]*T, error) {
		if err != nil || s.tx == nil || s.before == nil {
			return m, err
		}
		if s.pending == nil {
			s.pending = make(map[string]any, len(m))
		}
		for _, v := range m {
			k := id(v)
			if k == "" {
				continue
			}
			if _, ok := s.before[k]; ok {
				continue
			}
			if _, ok := s.pending[k]; !ok {
				cp := *v
				s.pending[k] = &cp
			}
		}
		return m, err
	}
}
