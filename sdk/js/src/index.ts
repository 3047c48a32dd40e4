// Gatehouse's JavaScript and TypeScript SDK.
//
// Every operation of the API is in ./gen, generated from the OpenAPI spec
// the server serves at /v1/spec.yaml (npm run generate). This file is the
// small hand-written part: the key, the environment, paging, errors and
// retries.
//
//   import { Gatehouse } from '@gatehouse/sdk';
//   const gh = new Gatehouse({ apiKey: process.env.GATEHOUSE_API_KEY, baseUrl: 'http://127.0.0.1:8080' });
//   const { allow } = await gh.checks.allowed({ user: 'alice', action: 'read', resource: { type: 'document', tenant: 'acme' } });

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createClient, createConfig, type Client as GenClient } from './gen/client/index.js';
import * as api from './gen/sdk.gen.js';
import type * as T from './gen/types.gen.js';

export * as operations from './gen/sdk.gen.js';
export type * from './gen/types.gen.js';

export interface Options {
  /** An API key (default: the GATEHOUSE_API_KEY variable). */
  apiKey?: string;
  /** The server (default: GATEHOUSE_API_URL, else http://127.0.0.1:8080). */
  baseUrl?: string;
  /** Sent as X-Organization-Id (the key already names its organization). */
  organizationId?: string;
  /** Project and environment of environment-scoped calls made with an organization or project key. */
  project?: string;
  environment?: string;
  /** How often a 429 or 503 answer is retried (default 3), waiting what Retry-After says. */
  retries?: number;
  /** The longest wait before a retry, in ms (default 30000): a longer Retry-After fails at once. */
  maxRetryWaitMs?: number;
  /** A fetch of your own (timeouts, proxies). */
  fetch?: typeof fetch;
  userAgent?: string;
}

/** The paging of a list (its meta). */
export interface PageMeta {
  request_id: string;
  timestamp: string;
  page: number;
  per_page: number;
  total_items: number;
  total_pages: number;
  has_next: boolean;
  has_previous: boolean;
  /** Continues the list after this page: pass as `cursor`. Absent on the last page. */
  next_cursor?: string;
  /** The list has more than total_items items (lists are counted up to 10,000). */
  total_capped?: boolean;
}

/** One page of a list. */
export interface Page<Item> {
  items: Item[];
  meta: PageMeta;
}

/** An error answer of the API, or a failure to reach it (status 0). */
export class GatehouseError extends Error {
  readonly status: number;
  /** The API's code: NOT_FOUND, INVALID_REQUEST, UNAUTHORIZED, FORBIDDEN, CONFLICT, RATE_LIMITED, ... */
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly requestId: string;
  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}, requestId = '') {
    super(`${code}: ${message}`);
    this.name = 'GatehouseError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }
  get isNotFound(): boolean { return this.code === 'NOT_FOUND'; }
  get isConflict(): boolean { return this.code === 'CONFLICT'; }
  get isUnauthorized(): boolean { return this.code === 'UNAUTHORIZED'; }
  get isForbidden(): boolean { return this.code === 'FORBIDDEN'; }
}

type Query = Record<string, unknown>;
type Result = { data?: unknown; error?: unknown; response?: Response };
type Op<O> = (options: O) => Promise<Result> | unknown;

const env = (name: string): string | undefined =>
  typeof process !== 'undefined' && process.env ? process.env[name] || undefined : undefined;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A Gatehouse client. Every method throws a GatehouseError on an error answer. */
export class Gatehouse {
  /** The generated client the groups call through: pass it as `client` to any function of `operations`. */
  readonly raw: GenClient;
  private readonly opts: Options;
  private readonly envQuery: Query;

  constructor(options: Options = {}) {
    this.opts = { ...options };
    const apiKey = options.apiKey ?? env('GATEHOUSE_API_KEY');
    const baseUrl = (options.baseUrl ?? env('GATEHOUSE_API_URL') ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    const headers: Record<string, string> = {};
    if (options.organizationId) headers['X-Organization-Id'] = options.organizationId;
    if (options.userAgent) headers['User-Agent'] = options.userAgent;
    this.raw = createClient(createConfig({ baseUrl, auth: () => apiKey, headers, fetch: this.retrying(options.fetch ?? globalThis.fetch) }));
    this.envQuery = options.project || options.environment ? { project: options.project, environment: options.environment } : {};
  }

  /** A client whose environment-scoped calls act on this project's environment. */
  withEnvironment(project: string, environment: string): Gatehouse {
    return new Gatehouse({ ...this.opts, apiKey: this.opts.apiKey ?? env('GATEHOUSE_API_KEY'), project, environment });
  }

  // fetch with retries of 429 and 503, honouring Retry-After.
  private retrying(f: typeof fetch): typeof fetch {
    const retries = this.opts.retries ?? 3;
    const maxWait = this.opts.maxRetryWaitMs ?? 30000;
    return async (input, init) => {
      const req = input instanceof Request ? input : new Request(input, init);
      for (let attempt = 0; ; attempt++) {
        let res: Response;
        try {
          res = await f(attempt < retries ? req.clone() : req);
        } catch (err) {
          throw new GatehouseError(0, 'UNREACHABLE', `cannot reach ${new URL(req.url).origin}: ${(err as Error).cause ?? (err as Error).message}`);
        }
        if ((res.status !== 429 && res.status !== 503) || attempt >= retries) return res;
        const after = res.headers.get('Retry-After');
        let wait = after !== null && /^\d+$/.test(after) ? Number(after) * 1000 : 2 ** attempt * 250;
        if (after !== null && !/^\d+$/.test(after)) {
          const at = Date.parse(after);
          if (!Number.isNaN(at)) wait = Math.max(0, at - Date.now());
        }
        if (wait > maxWait) return res;
        await res.body?.cancel();
        await sleep(wait);
      }
    };
  }

  // call runs a generated operation and returns the envelope's data, or
  // throws the API's error.
  private async call<R>(op: Op<any>, options: { path?: Query; query?: Query; body?: unknown; [k: string]: unknown } = {}, envScoped = false): Promise<{ data: R; meta: any }> {
    const query = envScoped ? { ...this.envQuery, ...(options.query ?? {}) } : options.query;
    const res = (await op({ ...options, query, client: this.raw, throwOnError: false })) as Result;
    const status = res.response?.status ?? 0;
    if (res.error instanceof GatehouseError) throw res.error;
    if (res.error instanceof Error) throw new GatehouseError(0, 'UNREACHABLE', res.error.message);
    if (res.error !== undefined || status >= 400) {
      const e = (res.error ?? {}) as { error?: { code?: string; message?: string; details?: Record<string, unknown> }; meta?: { request_id?: string } };
      const requestId = e.meta?.request_id ?? res.response?.headers.get('X-Request-Id') ?? '';
      if (e.error?.code) throw new GatehouseError(status, e.error.code, e.error.message ?? '', e.error.details ?? {}, requestId);
      throw new GatehouseError(status, 'HTTP_' + status, typeof res.error === 'string' ? res.error : res.response?.statusText ?? 'error', {}, requestId);
    }
    const body = res.data as { data?: R; meta?: unknown } | undefined;
    return { data: (body?.data ?? body) as R, meta: body?.meta };
  }

  private async one<R>(op: Op<any>, options: Query = {}, envScoped = false): Promise<R> {
    return (await this.call<R>(op, options, envScoped)).data;
  }

  private async page<R>(op: Op<any>, options: Query = {}, envScoped = false): Promise<Page<R>> {
    const r = await this.call<R[]>(op, options, envScoped);
    return { items: r.data ?? [], meta: r.meta as PageMeta };
  }

  // Pages by cursor (keyset) when the list hands one out: fast at any depth and
  // without repeats or gaps when items change meanwhile; by number otherwise.
  private async *iterate<R>(op: Op<any>, options: { query?: Query; [k: string]: unknown } = {}, envScoped = false): AsyncGenerator<R> {
    let page = Number(options.query?.page ?? 1);
    let cursor: string | undefined = options.query?.cursor as string | undefined;
    for (;;) {
      const query: Query = { per_page: 100, ...(options.query ?? {}) };
      if (cursor) {
        delete query.page;
        query.cursor = cursor;
      } else {
        query.page = page;
      }
      const p = await this.page<R>(op, { ...options, query }, envScoped);
      yield* p.items;
      if (!p.meta?.has_next) return;
      if (p.meta.next_cursor) cursor = p.meta.next_cursor;
      else if (cursor) return; // a cursor page without a next cursor is the last
      else page++;
    }
  }

  // Environment-scoped fact groups share one shape.
  private facts<Item, ListQ, CreateB, UpdateB>(name: string, ops: { list: Op<any>; get: Op<any>; create: Op<any>; update: Op<any>; del: Op<any> }) {
    return {
      list: (query?: ListQ) => this.page<Item>(ops.list, { query: query as Query }, true),
      all: (query?: ListQ) => this.iterate<Item>(ops.list, { query: query as Query }, true),
      get: (ref: string) => this.one<Item>(ops.get, { path: { [name]: ref } }, true),
      create: (body: CreateB) => this.one<Item>(ops.create, { body }, true),
      update: (ref: string, body: UpdateB) => this.one<Item>(ops.update, { path: { [name]: ref }, body }, true),
      delete: async (ref: string) => { await this.call(ops.del, { path: { [name]: ref } }, true); },
    };
  }

  readonly users = this.facts<T.User, T.ListUsersData['query'], T.CreateUserInBody, T.UpdateUserInBody>('user',
    { list: api.listUsers, get: api.getUser, create: api.createUser, update: api.updateUser, del: api.deleteUser });

  readonly tenants = this.facts<T.Tenant, T.ListTenantsData['query'], T.CreateTenantInBody, T.UpdateTenantInBody>('tenant',
    { list: api.listTenants, get: api.getTenant, create: api.createTenant, update: api.updateTenant, del: api.deleteTenant });

  readonly resources = {
    ...this.facts<T.Resource, T.ListResourcesData['query'], T.CreateResourceInBody, T.UpdateResourceInBody>('resource',
      { list: api.listResources, get: api.getResource, create: api.createResource, update: api.updateResource, del: api.deleteResource }),
    /** PUT: the fields given replace the resource's. */
    replace: (ref: string, body: T.UpdateResourceInBody) => this.one<T.Resource>(api.replaceResource, { path: { resource: ref }, body }, true),
  };

  readonly roles = this.facts<T.Role, T.ListRolesData['query'], T.CreateRoleInBody, T.UpdateRoleInBody>('role',
    { list: api.listRoles, get: api.getRole, create: api.createRole, update: api.updateRole, del: api.deleteRole });

  readonly roleAssignments = {
    list: (query?: T.ListRoleAssignmentsData['query']) => this.page<T.RoleAssignment>(api.listRoleAssignments, { query }, true),
    all: (query?: T.ListRoleAssignmentsData['query']) => this.iterate<T.RoleAssignment>(api.listRoleAssignments, { query }, true),
    /** Gives user role in tenant (the default tenant when omitted). */
    assign: (body: T.AssignInBody) => this.one<T.RoleAssignment>(api.assignRole, { body }, true),
    unassign: async (query: { user: string; role: string; tenant?: string }) => { await this.call(api.unassignRole, { query }, true); },
  };

  readonly checks = {
    /** May this user do this action on this resource? */
    allowed: (body: T.CheckRequest) => this.one<T.CheckResult>(api.check, { body }, true),
    bulk: (checks: T.CheckRequest[]) => this.one<T.CheckResult[]>(api.checkBulk, { body: { checks } }, true),
    userPermissions: (body: T.UserPermissionsRequest) => this.one<T.TenantPermissions[]>(api.userPermissions, { body }, true),
  };

  readonly decisions = {
    list: (query?: T.ListDecisionsData['query']) => this.page<T.Entry>(api.listDecisions, { query }, true),
    get: (id: string) => this.one<T.Entry>(api.getDecision, { path: { decision: id } }, true),
  };

  readonly projects = {
    list: (query?: T.ListProjectsData['query']) => this.page<T.Project>(api.listProjects, { query }),
    all: (query?: T.ListProjectsData['query']) => this.iterate<T.Project>(api.listProjects, { query }),
    get: (ref: string) => this.one<T.Project>(api.getProject, { path: { project: ref } }),
    create: (body: T.CreateProjectInBody) => this.one<T.Project>(api.createProject, { body }),
    update: (ref: string, body: T.UpdateProjectInBody) => this.one<T.Project>(api.updateProject, { path: { project: ref }, body }),
    delete: async (ref: string) => { await this.call(api.deleteProject, { path: { project: ref } }); },
  };

  readonly environments = {
    list: (project: string, query?: T.ListEnvironmentsData['query']) => this.page<T.Environment>(api.listEnvironments, { path: { project }, query }),
    get: (project: string, ref: string) => this.one<T.Environment>(api.getEnvironment, { path: { project, environment: ref } }),
    create: (project: string, body: T.CreateEnvInBody) => this.one<T.Environment>(api.createEnvironment, { path: { project }, body }),
    update: (project: string, ref: string, body: T.UpdateEnvInBody) => this.one<T.Environment>(api.updateEnvironment, { path: { project, environment: ref }, body }),
    delete: async (project: string, ref: string) => { await this.call(api.deleteEnvironment, { path: { project, environment: ref } }); },
  };

  readonly apiKeys = {
    list: (query?: T.ListApiKeysData['query']) => this.page<T.ApiKey>(api.listApiKeys, { query }),
    get: (id: string) => this.one<T.ApiKey>(api.getApiKey, { path: { key: id } }),
    /** The answer's token is shown this once. */
    create: (body: T.CreateKeyInBody) => this.one<T.CreatedApiKey>(api.createApiKey, { body }),
    revoke: (id: string) => this.one<T.ApiKey>(api.revokeApiKey, { path: { key: id } }),
    rotate: (id: string, body: T.RotateKeyInBody = {}) => this.one<T.CreatedApiKey>(api.rotateApiKey, { path: { key: id }, body }),
  };

  readonly logs = {
    list: (query?: T.ListLogsData['query']) => this.page<T.Call>(api.listLogs, { query }),
    all: (query?: T.ListLogsData['query']) => this.iterate<T.Call>(api.listLogs, { query }),
    get: (id: string) => this.one<T.Call>(api.getLog, { path: { log: id } }),
  };

  /** The audit trail: who changed what, when and from where, with each object before and after (scope view:audit). */
  readonly audit = {
    list: (query?: T.ListAuditData['query']) => this.page<T.AuditEntry>(api.listAudit, { query }),
    all: (query?: T.ListAuditData['query']) => this.iterate<T.AuditEntry>(api.listAudit, { query }),
    get: (id: string) => this.one<T.AuditEntry>(api.getAudit, { path: { entry: id } }),
  };

  readonly webhooks = {
    list: (query?: T.ListWebhooksData['query']) => this.page<T.Webhook>(api.listWebhooks, { query }),
    get: (id: string) => this.one<T.Webhook>(api.getWebhook, { path: { webhook: id } }),
    /** The answer's secret is shown this once. */
    create: (body: T.CreateWebhookInBody) => this.one<T.WebhookWithSecret>(api.createWebhook, { body }),
    update: (id: string, body: T.UpdateWebhookInBody) => this.one<T.Webhook>(api.updateWebhook, { path: { webhook: id }, body }),
    delete: async (id: string) => { await this.call(api.deleteWebhook, { path: { webhook: id } }); },
    eventTypes: () => this.one<unknown[]>(api.listWebhookEventTypes),
    test: (id: string) => this.one<T.Delivery>(api.testWebhook, { path: { webhook: id } }),
    deliveries: (id: string, query?: T.ListWebhookDeliveriesData['query']) => this.page<T.Delivery>(api.listWebhookDeliveries, { path: { webhook: id }, query }),
    delivery: (id: string, delivery: string) => this.one<T.DeliveryDetail>(api.getWebhookDelivery, { path: { webhook: id, delivery } }),
    replay: (id: string, delivery: string) => this.one<T.Delivery>(api.replayWebhookDelivery, { path: { webhook: id, delivery } }),
    rotateSecret: (id: string, body: T.RotateSecretInBody = {}) => this.one<T.WebhookWithSecret>(api.rotateWebhookSecret, { path: { webhook: id }, body }),
  };

  readonly jobs = {
    list: (query?: T.ListJobsData['query']) => this.page<T.Job>(api.listJobs, { query }),
    get: (id: string) => this.one<T.Job>(api.getJob, { path: { job: id } }),
    /** Starts an export, environment_copy or sandbox_reset job. */
    start: (body: T.StartJobInBody) => this.one<T.Job>(api.startJob, { body }, true),
    /**
     * Uploads a JSON Lines (default) or CSV file. Every row is checked
     * first: a bad file is refused with a GatehouseError whose
     * details.errors list the rows with their line numbers.
     */
    import: (file: string | Uint8Array | Blob | ReadableStream, query: T.ImportJobData['query'] = {}) =>
      this.one<T.Job>(api.importJob, {
        body: file, bodySerializer: null, query, duplex: 'half',
        headers: { 'Content-Type': query?.format === 'csv' ? 'text/csv' : 'application/x-ndjson' },
      }, true),
    cancel: (id: string) => this.one<T.Job>(api.cancelJob, { path: { job: id } }),
    tasks: (id: string, query?: T.ListJobTasksData['query']) => this.page<T.Task>(api.listJobTasks, { path: { job: id }, query }),
    retryTask: (task: string) => this.one<T.Task>(api.retryTask, { path: { task } }),
    /** An export's output (JSON Lines) as text. */
    output: async (id: string): Promise<string> => {
      const res = (await api.getJobOutput({ client: this.raw, path: { job: id }, parseAs: 'text', throwOnError: false })) as Result;
      if (res.error !== undefined || (res.response?.status ?? 0) >= 400) await this.call(api.getJob, { path: { job: id } });
      return res.data as string;
    },
    /** Polls a job until it has ended; onProgress sees every poll. */
    wait: async (id: string, { intervalMs = 500, onProgress }: { intervalMs?: number; onProgress?: (job: T.Job) => void } = {}): Promise<T.Job> => {
      for (;;) {
        const job = await this.one<T.Job>(api.getJob, { path: { job: id } });
        onProgress?.(job);
        if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled') return job;
        await sleep(intervalMs);
      }
    },
  };

  readonly system = {
    me: () => this.one<T.Me>(api.getMe),
    scopes: () => this.one<T.ScopeInfo[]>(api.listScopes),
    ready: () => this.one<T.Health>(api.readyz),
  };
}

/** Client is Gatehouse under the name the seed's examples use. */
export { Gatehouse as Client };

/** A webhook event as Gatehouse sends it. */
export interface WebhookEvent {
  id: string;
  event: string;
  timestamp: string;
  organization_id: string;
  project_id?: string;
  environment_id?: string;
  data: unknown;
}

/**
 * Checks a webhook delivery: X-Signature (or, during a secret rotation,
 * X-Signature-New) must be the hex HMAC-SHA256 of the raw body keyed with
 * the endpoint's secret, and X-Webhook-Timestamp within toleranceSeconds
 * (default 300) of now. Returns the event; throws otherwise. Pass the body
 * exactly as received.
 */
export function verifyWebhook(secret: string, headers: Headers | Record<string, string | string[] | undefined>, body: string | Uint8Array, toleranceSeconds = 300): WebhookEvent {
  const header = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    const found = Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
    return Array.isArray(found) ? found[0] : found;
  };
  const ts = Number(header('X-Webhook-Timestamp'));
  if (!Number.isInteger(ts) || ts <= 0) throw new Error('gatehouse: webhook not verified: missing or malformed X-Webhook-Timestamp');
  if (Math.abs(Date.now() / 1000 - ts) > toleranceSeconds) throw new Error('gatehouse: webhook not verified: the timestamp is too far from now (a replay?)');
  const want = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'));
  const ok = ['X-Signature', 'X-Signature-New'].some((name) => {
    const got = header(name);
    return got !== undefined && got.length === want.length && timingSafeEqual(Buffer.from(got), want);
  });
  if (!ok) throw new Error('gatehouse: webhook not verified: the signature does not match');
  return JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8')) as WebhookEvent;
}
