import { handleSlackInteraction } from '../../notify/slack-interactions.js';
import type { Route } from '../api.js';

export const slackRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/slack/interactions',
    tag: 'notifications',
    summary: "Slack's interactivity endpoint (Approve / Deny buttons and the deny dialog); verified by Slack's request signature, not a token",
    public: true,
    raw: true,
    handler: async ({ ctx, c }) => {
      const body = await c.req.text();
      const answer = await handleSlackInteraction(ctx, { timestamp: c.req.header('x-slack-request-timestamp'), signature: c.req.header('x-slack-signature') }, body);
      return c.json(answer.body as object, answer.status);
    },
  },
];
