// Row types of the database, as Kysely sees them.
import type { ColumnType, Generated } from 'kysely';

type Ts = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface IdentityStateTable {
  name: string;
  disabled_at: Ts | null;
  disabled_by: string | null;
  disabled_reason: string | null;
}

export interface ApiTokenTable {
  id: string;
  subject: string;
  secret_hash: string;
  description: string | null;
  created_by: string;
  created_at: Ts;
  expires_at: Ts;
  revoked_at: Ts | null;
  last_used_at: Ts | null;
  /** a workload session: { issuer, claims } of the OIDC token it was exchanged for */
  claims: ColumnType<unknown, string | null | undefined, string | null>;
}

export interface AccessRequestTable {
  id: string;
  artifact: string | null;
  requester: string;
  resources: Json<string[]>;
  actions: Json<string[]>;
  duration_seconds: number;
  start_at: Ts | null;
  max_uses: number | null;
  reason: string;
  ticket: string | null;
  fields: ColumnType<Record<string, string>, string | undefined, string>;
  extends_grant_id: string | null;
  state: string;
  plan: Json<unknown>;
  policy_version: string;
  created_at: Ts;
  expires_at: Ts;
  decided_at: Ts | null;
  decided_by: string | null;
  decision_reason: string | null;
  /** when the sweep next looks at the current stage's escalation; null = nothing to announce */
  escalates_at: Ts | null;
  /** the next reminder of a pending request (policy remind_every), null when none */
  remind_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  reminders: Generated<number>;
  /** Jira confirmed the ticket when the request was filed: only then does it get comments */
  ticket_verified: Generated<boolean>;
}

export interface RequestReviewTable {
  request_id: string;
  reviewer: string;
  decision: 'approve' | 'deny';
  stage: number | null;
  reason: string | null;
  created_at: Ts;
}

export interface GrantTable {
  id: string;
  artifact: string | null;
  request_id: string;
  subject: string;
  resources: Json<string[]>;
  actions: Json<string[]>;
  starts_at: Ts;
  ends_at: Ts;
  max_uses: number | null;
  uses: Generated<number>;
  state: string;
  auto_approved: boolean;
  created_at: Ts;
  ended_at: Ts | null;
  ended_by: string | null;
  end_reason: string | null;
  break_glass: Generated<boolean>;
  review_closed_at: Ts | null;
  review_closed_by: string | null;
  review_note: string | null;
}

export interface AuditEventTable {
  seq: ColumnType<string | number, number, number>;
  id: string;
  at: Ts;
  type: string;
  actor: string;
  subject: string | null;
  resource: string | null;
  action: string | null;
  request_id: string | null;
  grant_id: string | null;
  outcome: string | null;
  reason: string | null;
  details: Json<Record<string, unknown>>;
  prev_hash: string;
  hash: string;
}

export interface PushSessionTable {
  secret_hash: string;
  subject: string;
  repo: string;
  transport: string;
  created_at: Ts;
  expires_at: Ts;
}

/** A use of a use-bound grant held by a Mercurial push until its hook says whether it committed (push-uses.ts). */
export interface PushUseTable {
  reservation: string;
  grant_id: string;
  /** who may settle it: `session:<hash of the push session>` or `hook:<hook account>` */
  owner: string;
  created_at: Ts;
}

/** An escalation the sweep announced (request.escalated): one per request and stage. */
export interface RequestEscalationTable {
  request_id: string;
  /** 0-based, like request_reviews.stage */
  stage: number;
  /** 0-based: which escalation tier of the stage */
  tier: Generated<number>;
  due_at: Ts;
  announced_at: Ts;
}

export interface CredentialTable {
  id: string;
  grant_id: string;
  subject: string;
  kind: string;
  target: string;
  name: string;
  issued_at: Ts;
  expires_at: Ts;
  revoked_at: Ts | null;
  revoke_error: string | null;
  /** a process taking it back holds it until then */
  lease_until: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  attempts: Generated<number>;
  /** after a failed take-back: not before then */
  next_attempt_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface SecretTable {
  resource: string;
  name: string;
  sealed: string;
  updated_at: Ts;
  updated_by: string;
}

export interface OutboxTable {
  event_id: string;
  event_type: string;
  created_at: Ts;
  fanned_out_at: Ts | null;
  /** failed fan-out attempts, the last error, when to try again; failed_at: given up (shown by `ajar outbox`) */
  attempts: Generated<number>;
  last_error: string | null;
  retry_at: Ts | null;
  failed_at: Ts | null;
}

export interface DeliveryTable {
  id: string;
  event_id: string;
  event_type: string;
  /** slack | webhook:<name> | email | jira */
  channel: string;
  /** a Slack channel or user, an email address, a webhook endpoint, a Jira issue */
  target: string;
  payload: unknown;
  state: 'pending' | 'sending' | 'delivered' | 'dead';
  attempts: Generated<number>;
  next_attempt_at: Ts;
  lease_until: Ts | null;
  /** the token of the claim that holds the lease: only its holder writes the outcome */
  lease_token: string | null;
  last_error: string | null;
  created_at: Ts;
  delivered_at: Ts | null;
}

export interface SlackMessageTable {
  request_id: string;
  channel: string;
  ts: string;
  kind: string;
  /** the note the message was posted with (reminder, escalation), kept when it is updated */
  note: string | null;
}

export interface SlackUserTable {
  identity: string;
  slack_user_id: string;
  resolved_at: Ts;
}

export interface SlackReplayTable {
  signature: string;
  seen_at: Ts;
}

export interface AuditHeadTable {
  id: number;
  seq: ColumnType<string | number, number, number>;
  hash: string;
}

export interface DB {
  identity_state: IdentityStateTable;
  api_tokens: ApiTokenTable;
  access_requests: AccessRequestTable;
  request_reviews: RequestReviewTable;
  grants: GrantTable;
  audit_events: AuditEventTable;
  audit_head: AuditHeadTable;
  push_sessions: PushSessionTable;
  push_uses: PushUseTable;
  credentials: CredentialTable;
  secrets: SecretTable;
  request_escalations: RequestEscalationTable;
  outbox: OutboxTable;
  deliveries: DeliveryTable;
  slack_messages: SlackMessageTable;
  slack_users: SlackUserTable;
  slack_replays: SlackReplayTable;
}
