// The channels the outbox worker sends through, by the first part of a delivery's channel.
import { sendEmail } from './email.js';
import { sendJiraComment } from './jira.js';
import type { Senders } from './outbox.js';
import { sendSlack } from './slack.js';
import { sendWebhook } from './webhooks.js';

export const SENDERS: Senders = { slack: sendSlack, webhook: sendWebhook, email: sendEmail, jira: sendJiraComment };
