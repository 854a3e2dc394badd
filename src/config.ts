// The config file: identities, resources and the basic policy. Validated once at
// start-up; every error names file:line:col and says how to fix it, and nothing
// starts on a bad file.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from './domain/duration.js';
import { globMatch } from './domain/glob.js';
import { claimsProblem, insecureUrlProblem, issuerKind } from './domain/workload-claims.js';
import {
  ACTIONS,
  canonicalResource,
  parseResource,
  RESOURCE_KINDS,
  type Resource,
  validateAction,
} from './domain/resource.js';
import { type AutomaticRule, compileCondition, isTimeZone } from './policy/conditions.js';
import { chainProblems, type LoadContext, loadApproval } from './policy/load-approval.js';
import { loadSchedule, type Schedule } from './policy/oncall.js';
import { isPolicyDocument, type ReadFile, readText } from './policy/policy-file.js';
import type { Policy, PolicyRule } from './policy/policy.js';
import { WEBHOOK_EVENTS, type WebhookEvent } from './notify/events.js';
import { type LocatedYaml, parseYamlFile as parseLocated, YamlError, zodProblems } from './located-yaml.js';

const NAME = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'use lower-case letters, digits, ".", "_" and "-" (at most 64)');
// parseDuration's own message says what is wrong: not a duration, zero, longer than a year.
const DURATION = z
  .string()
  .superRefine((s, c) => {
    const d = parseDuration(s);
    if (!d.ok) c.addIssue({ code: 'custom', message: d.error });
  })
  .meta({ pattern: '^([0-9]+[smhdw])+$', description: 'a duration: 90s, 30m, 2h, 1h30m, 7d or 2w (at most a year)', examples: ['30m', '2h', '7d'] });
const RESOURCE = z.string().meta({
  pattern: `^(${RESOURCE_KINDS.join('|')}):[^:]+(:[^:]+)?$`,
  description: 'kind:name[:scope], e.g. git:payments:release/*; * stays within one /-separated part, ** crosses them',
  examples: ['git:payments:release/*', 'hg:billing:stable', 'env:payments:production'],
});
const ACTION = z.string().meta({ enum: [...new Set(Object.values(ACTIONS).flat())], description: 'an action of the resources\' kind' });
const ENV_NAME = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name');
const SECURE_URL = z.url().superRefine((u, c) => {
  const problem = insecureUrlProblem(u);
  if (problem) c.addIssue({ code: 'custom', message: problem });
});
const LABELS = z.record(z.string(), z.string());
const REGEX = z.string().refine((p) => {
  try {
    new RegExp(p, 'u');
    return true;
  } catch {
    return false;
  }
}, 'not a valid regular expression');

const identitySchema = z.strictObject({
  groups: z.array(NAME).default([]),
  /** where notifications reach this person (email; Slack finds them by it) */
  email: z.email().optional(),
  /** the Slack user id (U...), when it is not found by email */
  slack: z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'a Slack user id like U024BE7LH').optional(),
  attributes: LABELS.default({}),
  disabled: z.boolean().default(false),
  description: z.string().optional(),
});

/** an escalation tier: no decision within `after` of the stage starting, these approvers may decide too */
const ESCALATION = z.strictObject({ after: DURATION, groups: z.array(NAME).default([]), users: z.array(NAME).default([]) });

const stageSchema = z.strictObject({
  groups: z.array(NAME).default([]),
  users: z.array(NAME).default([]),
  count: z.number().int().min(1).max(20).default(1),
  /** the approvers of this stage must differ in this attribute (e.g. team), or with `group` each come from a different group or user named */
  distinct: z.string().min(1).optional().meta({ description: 'approvers differ in this attribute (e.g. team); "group": each from a different group or user of the stage' }),
  /** whoever is on call in these rotations (policy.oncall_file) may approve */
  oncall: z.array(z.string()).default([]),
  /** the stage applies only when this CEL condition holds when the request is filed */
  when: z.string().min(1).max(4000).optional().meta({ description: 'a CEL condition: the stage applies only when it holds when the request is filed' }),
  /** no decision within `after` of the stage starting: these approvers may decide too; a list for tiers one after another */
  escalate: z.union([ESCALATION, z.array(ESCALATION).min(1).max(5)]).optional().meta({ description: 'undecided after `after`, these approvers may decide too; a list of tiers, each later than the one before' }),
  /** while the stage is undecided, remind its approvers this often (notifications) */
  remind_every: DURATION.optional(),
});

const approvalSchema = z.union([
  z.literal('auto'),
  z.strictObject({ stages: z.array(stageSchema).min(1).max(10) }),
  stageSchema,
]);

const ruleSchema = z.strictObject({
  name: NAME,
  description: z.string().optional(),
  who: z.strictObject({
    users: z.array(NAME).default([]),
    groups: z.array(NAME).default([]),
    service_accounts: z.array(NAME).default([]),
    /** CI jobs proven by an OIDC token (workloads.identities) */
    workloads: z.array(NAME).default([]),
    /** whoever is on call in these rotations (policy.oncall_file) when they ask */
    oncall: z.array(z.string()).default([]),
  }),
  /** block rules always win over allow rules */
  effect: z.enum(['allow', 'block']).default('allow').meta({ description: 'block rules always win over allow rules' }),
  resources: z.array(RESOURCE).min(1),
  actions: z.array(ACTION).min(1),
  max_duration: DURATION.optional().meta({ description: 'the longest grant this rule gives (required on allow rules)' }),
  default_duration: DURATION.optional().meta({ description: 'what a request gets when it names no duration (default: max_duration)' }),
  min_duration: DURATION.optional().meta({ description: 'the shortest grant that may be asked for' }),
  max_uses: z.number().int().min(1).optional().meta({ description: 'the grant ends after this many uses (a push, a deploy), or at its end' }),
  pending_ttl: DURATION.optional().meta({ description: 'how long a request under this rule waits for a decision before it expires (default: policy.pending_ttl)' }),
  ticket: z
    .strictObject({
      required: z.boolean().default(true),
      pattern: REGEX.optional(),
    })
    .optional(),
  approval: approvalSchema.optional().meta({ description: 'auto, one stage of approvers, or { stages: [...] } approved in order' }),
  /** typed justification: named fields the requester must fill in (e.g. an incident id) */
  prompts: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'use lower-case letters, digits and _'),
        description: z.string().max(200).optional(),
        pattern: REGEX.optional(),
        required: z.boolean().default(true),
      }),
    )
    .max(10)
    .default([]),
  /** how often and how far a grant under this rule may be extended */
  extensions: z.strictObject({ max: z.number().int().min(0).max(100).optional(), max_total_duration: DURATION.optional() }).optional(),
  /** emergency access: only when asked for with --break-glass; grants at once; reviewed afterwards */
  break_glass: z.boolean().default(false).meta({ description: 'emergency access: only with --break-glass; granted at once for at most 4h, flagged and reviewed afterwards' }),
  /** a Git or Mercurial operation this rule could allow, when denied, files the request itself */
  request_on_deny: z.boolean().default(false).meta({ description: 'a denied git/hg operation this rule could allow files the request itself' }),
  /** requests must be bound to one build (--artifact: a commit id or image digest) */
  require_artifact: z.boolean().default(false).meta({ description: 'requests must be bound to one build (--artifact: a commit id or image digest)' }),
});

const fileSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8741),
      public_url: z.url().optional(),
    })
    .default({ host: '127.0.0.1', port: 8741 }),
  admins: z.strictObject({ users: z.array(NAME).default([]), groups: z.array(NAME).default([]) }).default({ users: [], groups: [] }),
  groups: z.record(NAME, z.strictObject({ description: z.string().optional() }).nullable()).default({}),
  users: z.record(NAME, identitySchema.nullable()).default({}),
  service_accounts: z.record(NAME, identitySchema.nullable()).default({}),
  resources: z
    .array(z.strictObject({ id: z.string(), labels: LABELS.default({}), description: z.string().optional() }))
    .default([]),
  /** the policy in its own file (what `policy:` would hold), relative to this file */
  policy_file: z.string().min(1).optional(),
  policy: z
    .strictObject({
      pending_ttl: DURATION.default('24h'),
      timezone: z.string().default('UTC'),
      /** on-call schedule (rotations of shifts), relative to the file holding the policy */
      oncall_file: z.string().optional(),
      rules: z.array(ruleSchema).default([]),
      automatic: z
        .array(
          z.strictObject({
            name: NAME,
            decision: z.enum(['approve', 'deny']),
            when: z.string().min(1).max(4000),
            reason: z.string().max(500).optional(),
          }),
        )
        .default([]),
    })
    .default({ pending_ttl: '24h', timezone: 'UTC', rules: [], automatic: [] }),
  workers: z
    // 1s: a grant's end takes effect on its credentials (roles dropped, sessions killed) within about 2 s.
    .strictObject({ sweep_interval: DURATION.default('1s'), notify_interval: DURATION.default('1s') })
    .default({ sweep_interval: '1s', notify_interval: '1s' }),
  git: z
    .strictObject({
      /** bare repositories served at /git/<name>.git: <root>/<name>.git, relative to this file */
      root: z.string().min(1).optional(),
      /** service accounts that may vouch for the pusher (hook mode and SSH mode) */
      hook_accounts: z.array(NAME).default([]),
    })
    .default({ hook_accounts: [] }),
  /** credentials Ajar mints for an active grant and takes back when it ends */
  credentials: z
    .strictObject({
      postgres: z
        .record(
          NAME,
          z.strictObject({
            /** the name of an environment variable holding the admin connection URL (kept out of this file) */
            admin_url_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name'),
            /** the role every temporary login role is a member of (what it may do) */
            role: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a plain PostgreSQL role name'),
            /** host, port and database the user connects to (shown with the password) */
            connect: z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535).default(5432), database: z.string().min(1) }),
          }),
        )
        .default({}),
      ssh: z
        .strictObject({
          /** the private key of Ajar's SSH user CA (mode 0600), relative to this file; hosts trust its .pub (TrustedUserCAKeys) */
          ca_key_file: z.string().min(1),
          /** per ssh:<target>: the accounts a certificate may log in as; default: the Ajar user's name */
          targets: z.record(NAME, z.strictObject({ principals: z.array(z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, 'a Unix account name')).min(1).optional() }).nullable()).default({}),
        })
        .optional(),
      /** signed access tokens (JWT, ES256) for an active grant; the public key is published at /.well-known/jwks.json */
      tokens: z
        .strictObject({
          /** a PKCS#8 PEM EC P-256 private key (mode 0600), relative to this file: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 */
          signing_key_file: z.string().min(1),
          /** the iss claim; default: server.public_url, else "ajar" */
          issuer: z.string().min(1).optional(),
          /** a token lives this long, or until the grant's end if sooner; ask again for a new one */
          ttl: DURATION.default('15m'),
          /** keys signed with before a rotation: still published in the JWKS, never signing */
          previous_key_files: z.array(z.string().min(1)).default([]),
        })
        .optional(),
    })
    .default({ postgres: {} }),
  /** pipeline secrets, stored encrypted; released to an identity with an active read-secrets grant */
  secrets: z
    .strictObject({
      /** an environment variable holding the key: 32 random bytes, base64 (openssl rand -base64 32) */
      key_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name'),
      /** rotated-out keys, to unseal only until `ajar secret reseal` has sealed everything with key_env */
      old_key_envs: z.array(ENV_NAME).default([]),
    })
    .optional(),
  /** CI jobs that prove who they are with an OIDC token signed by a configured issuer */
  workloads: z
    .strictObject({
      issuers: z
        .record(
          NAME,
          z.strictObject({
            issuer: SECURE_URL,
            /** default: the jwks_uri of <issuer>/.well-known/openid-configuration (OIDC discovery) */
            jwks_url: SECURE_URL.optional(),
            /** the audience the CI puts in the token for Ajar, e.g. Ajar's URL */
            audience: z.string().min(1),
            /** tokens issued longer ago than this are refused (iat) */
            max_age: DURATION.default('1h'),
            /** github or gitlab: a workload must name its repository or project; default: from the issuer URL */
            type: z.enum(['github', 'gitlab', 'other']).optional(),
          }),
        )
        .default({}),
      identities: z
        .record(
          NAME,
          z.strictObject({
            issuer: NAME,
            /** every claim must match (values are patterns: * within a / segment, ** across) */
            claims: z.record(z.string().regex(/^[a-z_][a-z0-9_]{0,63}$/), z.string().min(1)).refine((c) => Object.keys(c).length > 0, 'name at least one claim'),
            groups: z.array(NAME).default([]),
            description: z.string().optional(),
          }),
        )
        .default({}),
    })
    .default({ issuers: {}, identities: {} }),
  /** notifications: written with the change that causes them, delivered afterwards with retries */
  notify: z
    .strictObject({
      slack: z
        .strictObject({
          /** the bot token (xoxb-...), from this environment variable */
          token_env: ENV_NAME,
          /** the app's signing secret, to verify interactions posted to /v1/slack/interactions */
          signing_secret_env: ENV_NAME,
          api_url: z.url().default('https://slack.com/api'),
          /** channels that see every request needing review (names like #access or ids) */
          channels: z.array(z.string().min(1).max(80)).default([]),
          /** message the approvers (and tell the requester) directly */
          direct_messages: z.boolean().default(true),
        })
        .optional(),
      webhooks: z
        .record(
          NAME,
          z
            .strictObject({
              url: z.url().optional(),
              /** the URL from this environment variable instead (it may hold a secret) */
              url_env: ENV_NAME.optional(),
              /** the endpoint's signing secret (whsec_ + base64), from this environment variable */
              secret_env: ENV_NAME,
              /** the events this endpoint gets; default all */
              events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
            })
            .refine((w) => (w.url === undefined) !== (w.url_env === undefined), 'give either url or url_env'),
        )
        .default({}),
      email: z
        .strictObject({
          /** smtp://user:password@host:587 (or smtps://), from this environment variable */
          url_env: ENV_NAME,
          from: z.string().min(3).max(200),
        })
        .optional(),
      jira: z
        .strictObject({
          url: z.url(),
          /** a Data Center personal access token, or with `email` a Jira Cloud API token */
          token_env: ENV_NAME,
          email: z.email().optional(),
          /** a required ticket must be in one of these statuses; default: any */
          statuses: z.array(z.string().min(1)).optional(),
          /** comment on the ticket when access is granted and when it ends */
          comment: z.boolean().default(true),
        })
        .optional(),
      /** attempts before a delivery is given up (dead letter) */
      max_attempts: z.number().int().min(1).max(50).default(10),
      /** delivered notifications are forgotten after this many days (the audit log keeps the events) */
      keep_delivered_days: z.number().int().min(1).max(3650).default(30),
    })
    .default({ webhooks: {}, max_attempts: 10, keep_delivered_days: 30 }),
  hg: z
    .strictObject({
      /** Mercurial repositories served at /hg/<name>: <root>/<name>, relative to this file */
      root: z.string().min(1).optional(),
      /** service accounts that may vouch for the pusher (hook mode and SSH mode) */
      hook_accounts: z.array(NAME).default([]),
      /** the Python that has Mercurial (default: the one `hg` runs with) */
      python: z.string().min(1).optional(),
    })
    .default({ hook_accounts: [] }),
});

export interface Identity {
  name: string;
  kind: 'user' | 'service_account' | 'workload';
  groups: string[];
  attributes: Record<string, string>;
  /** disabled in the config file; `ajar user disable` is kept in the database */
  disabled: boolean;
  admin: boolean;
  email?: string | undefined;
  slack?: string | undefined;
}

export interface ConfiguredResource {
  id: string;
  resource: Resource;
  labels: Record<string, string>;
  description?: string | undefined;
}

export interface Config {
  file: string;
  server: { host: string; port: number; publicUrl: string | undefined };
  identities: Map<string, Identity>;
  groups: Map<string, { description?: string | undefined }>;
  resources: ConfiguredResource[];
  policy: Policy;
  /** the policy's own file (policy_file), absolute; undefined when the policy is inline */
  policyFile?: string | undefined;
  /** the config file's text: `ajar policy simulate` re-reads it with a new policy file */
  source?: string | undefined;
  workers: { sweepIntervalSeconds: number; notifyIntervalSeconds: number };
  notify: NotifyConfig;
  /** root: absolute path of the served repositories, when Ajar serves Git */
  git: { root: string | undefined; hookAccounts: string[] };
  workloads: { issuers: Map<string, WorkloadIssuer>; identities: WorkloadIdentity[] };
  secrets: { keyEnv: string; oldKeyEnvs: string[] } | undefined;
  /** postgres: target name (postgres:<name>) → how to mint its roles */
  credentials: {
    postgres: Map<string, PostgresTarget>;
    ssh: { caKeyFile: string; targets: Map<string, { principals: string[] | null }> } | undefined;
    tokens: { signingKeyFile: string; issuer: string; ttlSeconds: number; previousKeyFiles: string[] } | undefined;
  };
  /** root: absolute path of the served Mercurial repositories, when Ajar serves them */
  hg: { root: string | undefined; hookAccounts: string[]; python: string | undefined };
}

export interface NotifyConfig {
  slack: { tokenEnv: string; signingSecretEnv: string; apiUrl: string; channels: string[]; directMessages: boolean } | undefined;
  webhooks: { name: string; url: string | undefined; urlEnv: string | undefined; secretEnv: string; events: WebhookEvent[] }[];
  email: { urlEnv: string; from: string } | undefined;
  jira: { url: string; tokenEnv: string; email: string | undefined; statuses: string[] | undefined; comment: boolean } | undefined;
  maxAttempts: number;
  keepDeliveredDays: number;
}

export interface WorkloadIssuer {
  name: string;
  issuer: string;
  /** undefined: discovered from the issuer's openid-configuration */
  jwksUrl: string | undefined;
  audience: string;
  maxAgeSeconds: number;
}

export interface PostgresTarget {
  name: string;
  adminUrlEnv: string;
  role: string;
  connect: { host: string; port: number; database: string };
}

export interface WorkloadIdentity {
  name: string;
  issuer: string;
  claims: Record<string, string>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid config:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read the config file (${(e as NodeJS.ErrnoException).code ?? 'error'}); pass --config FILE or set AJAR_CONFIG`]);
  }
  return parseConfig(text, file);
}

export interface ParseOptions {
  /** reads the files the config names (policy_file, oncall_file); default: from disk */
  read?: ReadFile | undefined;
  /** this policy file instead of the config's own policy (simulating a new policy) */
  policy?: { text: string; file: string } | undefined;
}

export function parseConfig(text: string, file = 'config', opts: ParseOptions = {}): Config {
  const read = opts.read ?? readText;
  const main = parseYamlFile(text, file);
  const policy = opts.policy ? parseYamlFile(opts.policy.text, opts.policy.file) : policyFileOf(main, read);
  if (!policy && isPolicyDocument(main.raw)) {
    throw new ConfigError([`${file}: this is a policy file (rules at the top level), not a config; name it with policy_file: in a config and give that config (e.g. ajar policy check CONFIG)`]);
  }
  // Paths under policy: live in the policy file when there is one, so its problems name it.
  const locate = (path: (string | number)[]) => (policy && path[0] === 'policy' ? { doc: policy, path: path.slice(1) } : { doc: main, path });
  const at = (path: (string | number)[]) => {
    const l = locate(path);
    return l.doc.at(l.path);
  };
  const raw = policy && isRecord(main.raw) ? { ...main.raw, policy: policy.raw } : main.raw;
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(zodProblems(main, parsed.error, locate));
  return { ...build(parsed.data, file, at, { policyFile: policy?.file, read }), source: text };
}

function parseYamlFile(text: string, file: string): LocatedYaml {
  try {
    return parseLocated(text, file);
  } catch (e) {
    throw e instanceof YamlError ? new ConfigError(e.problems) : e;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The policy file a config names (policy_file:, relative to the config), parsed; undefined when the policy is inline. */
function policyFileOf(config: LocatedYaml, read: ReadFile): LocatedYaml | undefined {
  const raw = config.raw;
  if (!isRecord(raw) || typeof raw.policy_file !== 'string') return undefined; // a non-string is reported by the schema
  if ('policy' in raw) {
    throw new ConfigError([`${config.atKey([], 'policy_file')}: policy_file: the policy is either in this file (policy:) or in its own file (policy_file:), not both; remove one`]);
  }
  const path = resolve(dirname(config.file), raw.policy_file);
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    throw new ConfigError([`${config.at(['policy_file'])}: policy_file: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}); the path is relative to ${config.file}`]);
  }
  return parseYamlFile(text, path);
}

type FileConfig = z.infer<typeof fileSchema>;

/** JSON Schema of the config file, or of a policy file, for editor completion (`ajar policy schema`). */
export function configJsonSchema(of: 'config' | 'policy' = 'config'): Record<string, unknown> {
  const schema = of === 'policy' ? fileSchema.shape.policy : fileSchema;
  return {
    ...(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>),
    title: of === 'policy' ? 'Ajar policy file (policy_file: of the config)' : 'Ajar configuration (identities, resources, policy)',
  };
}

function build(f: FileConfig, file: string, at: (path: (string | number)[]) => string, opts: { policyFile: string | undefined; read: ReadFile }): Config {
  const problems: string[] = [];
  const groups = new Map(Object.entries(f.groups).map(([k, v]) => [k, v ?? {}]));
  const identities = new Map<string, Identity>();
  const adminUsers = new Set(f.admins.users);
  const adminGroups = new Set(f.admins.groups);

  const addIdentities = (section: 'users' | 'service_accounts', kind: Identity['kind']) => {
    for (const [name, v] of Object.entries(f[section])) {
      const id = v ?? { groups: [], attributes: {}, disabled: false };
      if (identities.has(name)) problems.push(`${at([section, name])}: "${name}" is defined twice (users and service accounts share one namespace)`);
      id.groups.forEach((g, i) => {
        if (!groups.has(g)) problems.push(`${at([section, name, 'groups', i])}: unknown group "${g}"; add it under groups:`);
      });
      identities.set(name, {
        name,
        kind,
        groups: id.groups,
        attributes: id.attributes,
        disabled: id.disabled,
        admin: adminUsers.has(name) || id.groups.some((g) => adminGroups.has(g)),
        ...(id.email ? { email: id.email } : {}),
        ...(id.slack ? { slack: id.slack } : {}),
      });
    }
  };
  addIdentities('users', 'user');
  addIdentities('service_accounts', 'service_account');
  const workloadIdentities: WorkloadIdentity[] = [];
  for (const [name, w] of Object.entries(f.workloads.identities)) {
    if (identities.has(name)) problems.push(`${at(['workloads', 'identities', name])}: "${name}" is defined twice (users, service accounts and workloads share one namespace)`);
    if (!f.workloads.issuers[w.issuer]) problems.push(`${at(['workloads', 'identities', name, 'issuer'])}: unknown issuer "${w.issuer}"; add it under workloads.issuers`);
    w.groups.forEach((g, i) => {
      if (!groups.has(g)) problems.push(`${at(['workloads', 'identities', name, 'groups', i])}: unknown group "${g}"; add it under groups:`);
    });
    // Workloads are never admins: a pipeline does not run Ajar.
    const issuer = f.workloads.issuers[w.issuer];
    const claimsWrong = issuer ? claimsProblem(issuerKind(issuer.issuer, issuer.type), w.claims) : undefined;
    if (claimsWrong) problems.push(`${at(['workloads', 'identities', name, 'claims'])}: ${claimsWrong}`);
    identities.set(name, { name, kind: 'workload', groups: w.groups, attributes: {}, disabled: false, admin: false });
    workloadIdentities.push({ name, issuer: w.issuer, claims: w.claims });
  }
  f.admins.users.forEach((u, i) => {
    if (!identities.has(u)) problems.push(`${at(['admins', 'users', i])}: unknown user "${u}"`);
  });
  f.admins.groups.forEach((g, i) => {
    if (!groups.has(g)) problems.push(`${at(['admins', 'groups', i])}: unknown group "${g}"`);
  });

  const resources: ConfiguredResource[] = [];
  const seen = new Set<string>();
  f.resources.forEach((r, i) => {
    const p = parseResource(r.id);
    if (!p.ok) return problems.push(`${at(['resources', i, 'id'])}: ${p.error}`);
    const res = p.value;
    if (res.name.includes('*') || res.scope?.includes('*')) return problems.push(`${at(['resources', i, 'id'])}: a configured resource cannot be a pattern`);
    if (res.scope !== undefined && res.kind !== 'env') {
      return problems.push(`${at(['resources', i, 'id'])}: configure the whole ${res.kind} resource (${res.kind}:${res.name}); branches are named in policy rules`);
    }
    const id = canonicalResource(res);
    if (seen.has(id)) return problems.push(`${at(['resources', i, 'id'])}: resource "${id}" is listed twice`);
    seen.add(id);
    resources.push({ id, resource: res, labels: r.labels, description: r.description });
  });

  let schedule: Schedule = new Map();
  // A schedule that did not load has its own problems; conditions are not checked against it.
  let scheduleBroken = false;
  // The schedule is named relative to the file holding the policy.
  const oncallFile = f.policy.oncall_file ? resolve(dirname(opts.policyFile ?? file), f.policy.oncall_file) : undefined;
  if (oncallFile) {
    const loaded = loadSchedule(oncallFile, (u) => identities.has(u), opts.read);
    if ('problems' in loaded) {
      problems.push(...loaded.problems);
      scheduleBroken = true;
    }
    else schedule = loaded.schedule;
  }

  const checkRotation = (where: string, rot: string) => {
    if (!schedule.has(rot)) problems.push(`${where}: unknown on-call rotation "${rot}"${f.policy.oncall_file ? ` (not in ${f.policy.oncall_file})` : '; set policy.oncall_file'}`);
  };
  const rules: PolicyRule[] = [];
  const ruleNames = new Set<string>();
  f.policy.rules.forEach((r, i) => {
    const here = (...p: (string | number)[]) => at(['policy', 'rules', i, ...p]);
    if (ruleNames.has(r.name)) problems.push(`${here('name')}: rule name "${r.name}" is used twice`);
    ruleNames.add(r.name);
    const block = r.effect === 'block';
    if (!block && r.max_duration === undefined) problems.push(`${here()}: max_duration is required on an allow rule`);
    if (!block && r.approval === undefined && !r.break_glass) problems.push(`${here()}: approval is required on an allow rule (approval: auto, or approvers)`);
    if (r.break_glass) {
      if (block) problems.push(`${here('break_glass')}: a block rule cannot be break-glass`);
      if (r.approval !== undefined && r.approval !== 'auto') problems.push(`${here('approval')}: a break-glass rule grants at once; remove approval (it is reviewed afterwards)`);
      const m = r.max_duration ? parseDuration(r.max_duration) : undefined;
      if (m?.ok && m.value > 4 * 3600) problems.push(`${here('max_duration')}: break-glass access lasts at most 4h`);
    }
    if (block) {
      for (const k of ['max_duration', 'default_duration', 'min_duration', 'max_uses', 'pending_ttl', 'ticket', 'approval'] as const) {
        if (r[k] !== undefined) problems.push(`${here(k)}: a block rule has no ${k}; it only refuses`);
      }
    }
    const max = parseDuration(r.max_duration ?? '1s');
    const def = r.default_duration ? parseDuration(r.default_duration) : max;
    const min = r.min_duration ? parseDuration(r.min_duration) : undefined;
    if (max.ok && def.ok && def.value > max.value) problems.push(`${here('default_duration')}: default_duration is longer than max_duration`);
    if (block && r.request_on_deny) problems.push(`${here('request_on_deny')}: a block rule only refuses; it files no requests`);
    if (block && r.require_artifact) problems.push(`${here('require_artifact')}: a block rule only refuses; it has no requests to bind`);
    if (block && r.extensions) problems.push(`${here('extensions')}: a block rule has no extensions`);
    const totalCap = r.extensions?.max_total_duration ? parseDuration(r.extensions.max_total_duration) : undefined;
    if (totalCap?.ok && max.ok && totalCap.value < max.value) problems.push(`${here('extensions', 'max_total_duration')}: shorter than max_duration`);
    if (min?.ok && max.ok && min.value > max.value) problems.push(`${here('min_duration')}: min_duration is longer than max_duration`);
    if (min?.ok && def.ok && r.default_duration && min.value > def.value) problems.push(`${here('min_duration')}: min_duration is longer than default_duration`);
    r.who.users.forEach((u, j) => {
      if (!identities.has(u) || identities.get(u)!.kind !== 'user') problems.push(`${here('who', 'users', j)}: unknown user "${u}"`);
    });
    r.who.workloads.forEach((u, j) => {
      if (identities.get(u)?.kind !== 'workload') problems.push(`${here('who', 'workloads', j)}: unknown workload "${u}"; define it under workloads.identities`);
    });
    r.who.service_accounts.forEach((u, j) => {
      if (identities.get(u)?.kind !== 'service_account') problems.push(`${here('who', 'service_accounts', j)}: unknown service account "${u}"`);
    });
    r.who.groups.forEach((g, j) => {
      if (!groups.has(g)) problems.push(`${here('who', 'groups', j)}: unknown group "${g}"`);
    });
    r.who.oncall.forEach((rot, j) => checkRotation(here('who', 'oncall', j), rot));
    const parsedResources: Resource[] = [];
    r.resources.forEach((text, j) => {
      const p = parseResource(text);
      if (!p.ok) return problems.push(`${here('resources', j)}: ${p.error}`);
      const known = resources.some(
        (c) => c.resource.kind === p.value.kind && globMatch(p.value.name, c.resource.name) &&
          (c.resource.kind !== 'env' || p.value.scope === undefined || globMatch(p.value.scope, c.resource.scope ?? '')),
      );
      if (!known) problems.push(`${here('resources', j)}: "${text}" names no resource listed under resources:`);
      parsedResources.push(p.value);
      // A rule may mix kinds (git and hg, say): an action applies to the resources of its
      // kind, and must apply to at least one of them (checked below).
      r.actions.forEach((a, k) => {
        if (!ACTIONS[p.value.kind].includes(a)) return;
        const v = validateAction(p.value, a);
        if (!v.ok) problems.push(`${here('actions', k)}: ${v.error}`);
      });
    });
    const kinds = new Set(parsedResources.map((x) => x.kind));
    // With no resource understood, which actions apply cannot be said: the resource errors come first.
    if (kinds.size > 0) r.actions.forEach((a, k) => {
      if (![...kinds].some((kind) => ACTIONS[kind].includes(a))) {
        problems.push(`${here('actions', k)}: action "${a}" does not apply to ${[...kinds].join(' or ')} resources; use one of ${[...new Set([...kinds].flatMap((x) => ACTIONS[x]))].join(', ')}`);
      }
    });
    // A request under this rule expires after this long; escalations and reminders must come before.
    const ttlText = r.pending_ttl ?? f.policy.pending_ttl;
    const ttl = parseDuration(ttlText);
    const before = problems.length;
    const approvalContext: LoadContext = {
      where: (...p) => here('approval', ...p),
      problem: (text) => problems.push(text),
      groups,
      identities,
      checkRotation,
      rotations: scheduleBroken ? undefined : new Set(schedule.keys()),
      ttl: { text: ttlText, seconds: ttl.ok ? ttl.value : undefined },
    };
    const approval = loadApproval(r.approval, approvalContext);
    rules.push({
      name: r.name,
      description: r.description,
      who: r.who,
      effect: r.effect,
      resources: parsedResources,
      actions: r.actions,
      maxDurationSeconds: max.ok ? max.value : 0,
      defaultDurationSeconds: def.ok ? Math.max(def.value, min?.ok ? min.value : 0) : 0,
      minDurationSeconds: min?.ok ? min.value : 0,
      maxUses: r.max_uses ?? null,
      pendingTtlSeconds: r.pending_ttl ? (parseDuration(r.pending_ttl) as { ok: true; value: number }).value : null,
      ticket: r.ticket ? { required: r.ticket.required, pattern: r.ticket.pattern ?? null } : null,
      approval,
      breakGlass: r.break_glass,
      ...(r.request_on_deny ? { requestOnDeny: true } : {}),
      ...(r.require_artifact ? { requireArtifact: true } : {}),
      prompts: r.prompts.map((p) => ({ name: p.name, description: p.description ?? null, pattern: p.pattern ?? null, required: p.required })),
      extensions: {
        max: r.extensions?.max ?? null,
        maxTotalSeconds: r.extensions?.max_total_duration ? (parseDuration(r.extensions.max_total_duration) as { ok: true; value: number }).value : null,
      },
    });
    // Nobody approves twice or their own request: checked over the whole chain, once each stage is sound.
    if (problems.length === before) chainProblems(rules.at(-1)!, r.who, approvalContext, (rots) => rots.flatMap((x) => (schedule.get(x) ?? []).map((sh) => sh.user)));
  });

  if (!isTimeZone(f.policy.timezone)) problems.push(`${at(['policy', 'timezone'])}: unknown time zone "${f.policy.timezone}"; use an IANA name like Europe/Berlin`);
  const automatic: AutomaticRule[] = [];
  f.policy.automatic.forEach((a, i) => {
    if (ruleNames.has(a.name)) problems.push(`${at(['policy', 'automatic', i, 'name'])}: rule name "${a.name}" is used twice`);
    ruleNames.add(a.name);
    const test = compileCondition(a.when, { rotations: scheduleBroken ? undefined : new Set(schedule.keys()) });
    if (typeof test === 'string') problems.push(`${at(['policy', 'automatic', i, 'when'])}: the condition does not type-check: ${test}`);
    else automatic.push({ name: a.name, decision: a.decision, when: a.when, reason: a.reason ?? null, test });
  });

  for (const kind of ['git', 'hg'] as const) {
    f[kind].hook_accounts.forEach((name, i) => {
      if (identities.get(name)?.kind !== 'service_account') problems.push(`${at([kind, 'hook_accounts', i])}: "${name}" is not a service account; hook accounts are service accounts`);
    });
  }

  if (problems.length > 0) throw new ConfigError(problems);
  const ttl = parseDuration(f.policy.pending_ttl);
  const sweep = parseDuration(f.workers.sweep_interval);
  const notifyEvery = parseDuration(f.workers.notify_interval);
  const n = f.notify;
  return {
    file,
    server: { host: f.server.host, port: f.server.port, publicUrl: f.server.public_url },
    identities,
    groups,
    resources,
    policy: { pendingTtlSeconds: ttl.ok ? ttl.value : 86400, timezone: f.policy.timezone, rules, automatic, oncall: schedule, oncallFile },
    policyFile: opts.policyFile,
    workers: { sweepIntervalSeconds: sweep.ok ? sweep.value : 1, notifyIntervalSeconds: notifyEvery.ok ? notifyEvery.value : 1 },
    notify: {
      slack: n.slack
        ? { tokenEnv: n.slack.token_env, signingSecretEnv: n.slack.signing_secret_env, apiUrl: n.slack.api_url.replace(/\/+$/, ''), channels: n.slack.channels, directMessages: n.slack.direct_messages }
        : undefined,
      webhooks: Object.entries(n.webhooks).map(([name, w]) => ({ name, url: w.url, urlEnv: w.url_env, secretEnv: w.secret_env, events: w.events ?? [...WEBHOOK_EVENTS] })),
      email: n.email ? { urlEnv: n.email.url_env, from: n.email.from } : undefined,
      jira: n.jira ? { url: n.jira.url.replace(/\/+$/, ''), tokenEnv: n.jira.token_env, email: n.jira.email, statuses: n.jira.statuses, comment: n.jira.comment } : undefined,
      maxAttempts: n.max_attempts,
      keepDeliveredDays: n.keep_delivered_days,
    },
    git: { root: f.git.root ? resolve(dirname(file), f.git.root) : undefined, hookAccounts: f.git.hook_accounts },
    credentials: {
      postgres: new Map(Object.entries(f.credentials.postgres).map(([name, p]) => [name, { name, adminUrlEnv: p.admin_url_env, role: p.role, connect: p.connect }])),
      ssh: f.credentials.ssh
        ? {
            caKeyFile: resolve(dirname(file), f.credentials.ssh.ca_key_file),
            targets: new Map(Object.entries(f.credentials.ssh.targets).map(([name, t]) => [name, { principals: t?.principals ?? null }])),
          }
        : undefined,
      tokens: f.credentials.tokens
        ? {
            signingKeyFile: resolve(dirname(file), f.credentials.tokens.signing_key_file),
            issuer: f.credentials.tokens.issuer ?? f.server.public_url ?? 'ajar',
            ttlSeconds: (parseDuration(f.credentials.tokens.ttl) as { ok: true; value: number }).value,
            previousKeyFiles: f.credentials.tokens.previous_key_files.map((k) => resolve(dirname(file), k)),
          }
        : undefined,
    },
    secrets: f.secrets ? { keyEnv: f.secrets.key_env, oldKeyEnvs: f.secrets.old_key_envs } : undefined,
    workloads: {
      issuers: new Map(
        Object.entries(f.workloads.issuers).map(([name, i]) => [name, { name, issuer: i.issuer, jwksUrl: i.jwks_url, audience: i.audience, maxAgeSeconds: (parseDuration(i.max_age) as { ok: true; value: number }).value }]),
      ),
      identities: workloadIdentities,
    },
    hg: { root: f.hg.root ? resolve(dirname(file), f.hg.root) : undefined, hookAccounts: f.hg.hook_accounts, python: f.hg.python },
  };
}
