// A receiver in TypeScript with express and webhook-agent's verifier (npm install webhook-agent express).
import express from 'express';
import { webhookMiddleware } from 'webhook-agent/verify';

const app = express();
// Before any JSON parser: the signature covers the exact bytes. A bad signature answers 401.
app.post('/hooks/superoffice', webhookMiddleware({ secret: process.env.WEBHOOK_SECRET! }), (req, res) => {
  const event = req.body as { EventId: string; Event: string; PrimaryKey: number; FieldValues: Record<string, unknown> };
  // At-least-once: the same EventId may come again (a retry, a redelivery); handle it once.
  console.log(event.Event, event.PrimaryKey, event.EventId);
  res.sendStatus(200); // any 2xx within 10 s; 410 Gone stops the webhook
});
app.listen(Number(process.env.PORT ?? 3000));
