// One schema, one set of migrations, one SQL dialect: everything here runs on
// PostgreSQL 15+ and on PGlite (PostgreSQL 18).
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';

export const GENESIS_HASH = '0'.repeat(64);

const migrations: Record<string, Migration> = {
  '0001_core': {
    async up(db) {
      await sql`
        create table identity_state (
          name text primary key,
          disabled_at timestamptz,
          disabled_by text,
          disabled_reason text
        );
        create table api_tokens (
          id text primary key,
          subject text not null,
          secret_hash text not null unique,
          description text,
          created_by text not null,
          created_at timestamptz not null,
          expires_at timestamptz not null,
          revoked_at timestamptz,
          last_used_at timestamptz
        );
        create index api_tokens_subject on api_tokens (subject);
        create table access_requests (
          id text primary key,
          requester text not null,
          resources jsonb not null,
          actions jsonb not null,
          duration_seconds integer not null check (duration_seconds > 0),
          start_at timestamptz,
          max_uses integer check (max_uses > 0),
          reason text not null,
          ticket text,
          extends_grant_id text,
          state text not null check (state in ('pending', 'approved', 'denied', 'cancelled', 'expired')),
          plan jsonb not null,
          policy_version text not null,
          created_at timestamptz not null,
          expires_at timestamptz not null,
          decided_at timestamptz,
          decided_by text,
          decision_reason text
        );
        create index access_requests_requester on access_requests (requester, state);
        create index access_requests_pending on access_requests (state, expires_at);
        create table request_reviews (
          request_id text not null references access_requests (id),
          reviewer text not null,
          decision text not null check (decision in ('approve', 'deny')),
          reason text,
          created_at timestamptz not null,
          primary key (request_id, reviewer)
        );
        create table grants (
          id text primary key,
          request_id text not null references access_requests (id),
          subject text not null,
          resources jsonb not null,
          actions jsonb not null,
          starts_at timestamptz not null,
          ends_at timestamptz not null,
          max_uses integer check (max_uses > 0),
          uses integer not null default 0,
          state text not null check (state in ('scheduled', 'active', 'expired', 'revoked', 'released', 'consumed')),
          auto_approved boolean not null,
          created_at timestamptz not null,
          ended_at timestamptz,
          ended_by text,
          end_reason text,
          check (ends_at > starts_at)
        );
        -- One approved request yields exactly one grant, however many approvals race.
        create unique index grants_one_per_request on grants (request_id);
        create index grants_subject on grants (subject, state);
        create index grants_open on grants (state, ends_at);
        create table audit_events (
          seq bigint primary key,
          id text not null unique,
          at timestamptz not null,
          type text not null,
          actor text not null,
          subject text,
          resource text,
          action text,
          request_id text,
          grant_id text,
          outcome text,
          reason text,
          details jsonb not null,
          prev_hash text not null,
          hash text not null
        );
        create index audit_events_at on audit_events (at);
        create index audit_events_subject on audit_events (subject, at);
        -- The head of the hash chain. Every writer locks this row, so events are
        -- chained in commit order and the last event cannot be dropped unseen.
        create table audit_head (
          id integer primary key check (id = 1),
          seq bigint not null,
          hash text not null
        );
        insert into audit_head (id, seq, hash) values (1, 0, ${sql.lit(GENESIS_HASH)});
        -- Append-only: the application never updates or deletes events.
        create function audit_events_append_only() returns trigger language plpgsql as $$
        begin
          raise exception 'audit_events is append-only';
        end $$;
        create trigger audit_events_no_change before update or delete on audit_events
          for each row execute function audit_events_append_only();
      `.execute(db);
    },
  },
  '0002_review_stage': {
    async up(db) {
      // Which approval stage an approval counted for: stages are approved in order.
      await sql`alter table request_reviews add column stage integer`.execute(db);
    },
  },
  '0003_break_glass': {
    async up(db) {
      // Break-glass grants are flagged and stay under review until someone else closes it.
      await sql`
        alter table grants add column break_glass boolean not null default false;
        alter table grants add column review_closed_at timestamptz;
        alter table grants add column review_closed_by text;
        alter table grants add column review_note text;
        create index grants_break_glass_open on grants (break_glass, review_closed_at);
      `.execute(db);
    },
  },
  '0004_request_fields': {
    async up(db) {
      // Typed justification fields (e.g. an incident id) asked by the policy.
      await sql`alter table access_requests add column fields jsonb not null default '{}'::jsonb`.execute(db);
    },
  },
  '0006_git_push_sessions': {
    async up(db) {
      // A push through Ajar's gateway or SSH command gets a session: the secret goes to
      // the pre-receive hook in its environment (never to the pusher), so the hook can ask
      // for the pusher's decision. Only the hash is stored; any process may answer.
      await sql`
        create table push_sessions (
          secret_hash text primary key,
          subject text not null,
          repo text not null,
          transport text not null,
          created_at timestamptz not null,
          expires_at timestamptz not null
        );
        create index push_sessions_expires on push_sessions (expires_at);
      `.execute(db);
    },
  },
  // 0007, not 0005: 0006 is already applied where HEAD ran, and migrations apply in name order.
  '0007_request_escalations': {
    async up(db) {
      // The escalation timer: escalates_at is when the sweep next looks at a pending request
      // whose current stage escalates (request.escalated). It is a stored time, so it survives
      // restarts; the sweep recomputes the exact time from the stored times before acting.
      // request_escalations records each (request, stage) announced: its primary key, not a
      // pre-check, makes the announcement exactly once across processes and restarts.
      // Requests pending now get escalates_at = created_at: the sweep sets their true time.
      await sql`
        alter table access_requests add column escalates_at timestamptz;
        update access_requests set escalates_at = created_at
          where state = 'pending' and plan -> 'stages' @> '[{"escalate": {}}]'::jsonb;
        create index access_requests_escalates on access_requests (escalates_at) where state = 'pending';
        create table request_escalations (
          request_id text not null references access_requests (id),
          stage integer not null check (stage >= 0),
          due_at timestamptz not null,
          announced_at timestamptz not null,
          primary key (request_id, stage)
        );
      `.execute(db);
    },
  },
  '0008_artifact': {
    async up(db) {
      // An approval bound to one build (commit or image digest): the grant allows that one only.
      await sql`
        alter table access_requests add column artifact text;
        alter table grants add column artifact text;
      `.execute(db);
    },
  },
  '0009_credentials': {
    async up(db) {
      // Credentials minted for a grant (a PostgreSQL login role, ...), taken back when it ends.
      await sql`
        create table credentials (
          id text primary key,
          grant_id text not null references grants (id),
          subject text not null,
          kind text not null,
          target text not null,
          name text not null,
          issued_at timestamptz not null,
          expires_at timestamptz not null,
          revoked_at timestamptz,
          revoke_error text
        );
        create index credentials_open on credentials (expires_at) where revoked_at is null;
        create index credentials_grant on credentials (grant_id);
      `.execute(db);
    },
  },
  '0010_secrets': {
    async up(db) {
      // Pipeline secrets, encrypted (AES-256-GCM, bound to their slot); the key is never in the database.
      await sql`
        create table secrets (
          resource text not null,
          name text not null,
          sealed text not null,
          updated_at timestamptz not null,
          updated_by text not null,
          primary key (resource, name)
        );
      `.execute(db);
    },
  },
  '0011_outbox': {
    async up(db) {
      // The outbox: a row per notifiable audit event, written in the transaction of
      // the change (see appendAudit). A worker fans each one out into deliveries (one
      // per channel and recipient) and sends those after commit, with retries.
      await sql`
        create table outbox (
          event_id text primary key,
          event_type text not null,
          created_at timestamptz not null,
          fanned_out_at timestamptz
        );
        create index outbox_pending on outbox (created_at) where fanned_out_at is null;
        create table deliveries (
          id text primary key,
          event_id text not null,
          event_type text not null,
          channel text not null,
          target text not null,
          payload jsonb not null,
          state text not null check (state in ('pending', 'sending', 'delivered', 'dead')),
          attempts integer not null default 0,
          next_attempt_at timestamptz not null,
          lease_until timestamptz,
          last_error text,
          created_at timestamptz not null,
          delivered_at timestamptz,
          unique (event_id, channel, target)
        );
        create index deliveries_due on deliveries (next_attempt_at) where state in ('pending', 'sending');
        -- Slack messages about a request, updated in place when it is decided.
        create table slack_messages (
          request_id text not null,
          channel text not null,
          ts text not null,
          kind text not null,
          primary key (request_id, channel)
        );
        -- Slack user ids of Ajar identities (users.lookupByEmail), so a button press maps back.
        create table slack_users (
          identity text primary key,
          slack_user_id text not null unique,
          resolved_at timestamptz not null
        );
        -- Interaction payloads already applied: a replayed signed payload is refused.
        create table slack_replays (
          signature text primary key,
          seen_at timestamptz not null
        );
        -- Reminders of a pending request (policy: remind every ...): when the next is due.
        alter table access_requests add column remind_at timestamptz;
        alter table access_requests add column reminders integer not null default 0;
        create index access_requests_remind on access_requests (remind_at) where state = 'pending';
      `.execute(db);
    },
  },
  '0012_outbox_retention': {
    async up(db) {
      // Delivered notifications and fanned-out outbox rows are deleted after a while (sweep.ts).
      await sql`
        create index deliveries_delivered on deliveries (delivered_at) where state = 'delivered';
        create index outbox_done on outbox (fanned_out_at) where fanned_out_at is not null;
      `.execute(db);
    },
  },
  '0013_escalation_tiers': {
    async up(db) {
      // A stage may escalate in tiers (leads, then security after 1h, then the CISO after 4h):
      // each tier is announced once, so the tier is part of the key.
      await sql`
        alter table request_escalations add column tier integer not null default 0 check (tier >= 0);
        alter table request_escalations drop constraint request_escalations_pkey;
        alter table request_escalations add primary key (request_id, stage, tier);
      `.execute(db);
    },
  },
  '0020_hg_push_uses': {
    async up(db) {
      // Mercurial's hook decides before the transaction commits: an allowed push holds one use
      // of each use-bound grant it relies on until the hook says whether it committed.
      await sql`
        create table push_uses (
          reservation text not null,
          grant_id text not null references grants (id),
          owner text not null,
          created_at timestamptz not null,
          primary key (reservation, grant_id)
        );
        create index push_uses_grant on push_uses (grant_id);
      `.execute(db);
    },
  },
  '0030_notify_reliability': {
    async up(db) {
      await sql`
        -- The claim's token: only the process that holds a delivery's claim writes its
        -- outcome, so a late writer whose lease ran out cannot undo another's result.
        alter table deliveries add column lease_token text;
        -- Reminders and escalations post more Slack messages to the same DM or channel:
        -- one row per message (with the note it was posted with), each updated in place.
        alter table slack_messages drop constraint slack_messages_pkey;
        alter table slack_messages add primary key (request_id, channel, ts);
        alter table slack_messages add column note text;
        -- An outbox row that cannot be fanned out is retried with backoff, then set
        -- aside as failed (shown by "ajar outbox"), instead of holding back the rest.
        alter table outbox add column attempts integer not null default 0;
        alter table outbox add column last_error text;
        alter table outbox add column retry_at timestamptz;
        alter table outbox add column failed_at timestamptz;
        drop index outbox_pending;
        create index outbox_pending on outbox (created_at) where fanned_out_at is null and failed_at is null;
        -- Jira gets comments only on a ticket it confirmed when the request was filed.
        alter table access_requests add column ticket_verified boolean not null default false;
      `.execute(db);
    },
  },
  '0050_pipelines': {
    async up(db) {
      await sql`
        -- A workload's session: its CI OIDC token exchanged once for a short-lived Ajar
        -- token (the gate outlives the CI token). The verified claims travel with it.
        alter table api_tokens add column claims jsonb;
        -- Credentials are taken back outside any transaction: a claimed row holds a lease;
        -- a target that fails is retried with backoff, without holding up the others.
        alter table credentials add column lease_until timestamptz;
        alter table credentials add column attempts integer not null default 0;
        alter table credentials add column next_attempt_at timestamptz;
        create index credentials_open_target on credentials (kind, target) where revoked_at is null;
      `.execute(db);
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrate(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const all = await migrator.getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}
