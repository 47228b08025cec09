// Preloaded into a child process (NODE_OPTIONS=--require this file): when it is asked to stop
// (SIGTERM), it writes every file it has loaded to stderr, as one line: `loaded-modules [...]`.
process.prependListener('SIGTERM', () => {
  process.stderr.write(`loaded-modules ${JSON.stringify(Object.keys(require.cache))}\n`);
});
