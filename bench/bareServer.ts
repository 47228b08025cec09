/**
 * The baseline: a bare express app in its own process (as the service is), answering fixed
 * bytes on GET and POST /bare with the given content type and no middleware. Started by
 * bench/processes.ts `startBare`; prints its port on stdout.
 */
import fs from 'node:fs';
import express from 'express';

const { body, contentType } = JSON.parse(fs.readFileSync(process.env.BARE_RESPONSE_FILE!, 'utf8')) as { body: string; contentType: string };
const app = express();
app.disable('x-powered-by');
const answer = (_req: express.Request, res: express.Response) => {
  res.type(contentType).send(body);
};
app.get('/bare', answer);
app.post('/bare', answer);
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
