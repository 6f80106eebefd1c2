// Reads logging-command lines on stdin and answers each with one JSON line holding how
// Microsoft's task-lib parser (`commandFromString`) and a port of the agent's own parser
// (azure-pipelines-agent Command.cs TryParse + CommandStringConvertor.Unescape) read it.
'use strict';
const path = require('path');
const readline = require('readline');
const { commandFromString } = require(path.join(__dirname, '../../node_modules/azure-pipelines-task-lib/taskcommand'));

function agentUnescape(s, percents) {
  let out = s.replace(/%3B/g, ';').replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%5D/g, ']');
  if (percents) out = out.replace(/%AZP25/g, '%');
  return out;
}

function agentParse(line, percents) {
  const prefix = '##vso[';
  const start = line.indexOf(prefix);
  if (start < 0) return null;
  const rb = line.indexOf(']', start);
  if (rb < 0) return null;
  const info = line.substring(start + prefix.length, rb);
  const sp = info.indexOf(' ');
  const name = sp < 0 ? info : info.substring(0, sp);
  if (name.split('.').length !== 2) return null;
  const properties = {};
  if (sp >= 0) {
    for (const entry of info.substring(sp + 1).split(';')) {
      if (!entry) continue;
      const eq = entry.indexOf('=');
      if (eq < 0) continue;
      const value = entry.substring(eq + 1);
      if (!value) continue;
      properties[entry.substring(0, eq)] = agentUnescape(value, percents);
    }
  }
  return { command: name, properties, message: agentUnescape(line.substring(rb + 1), percents) };
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  const reply = {};
  try {
    const c = commandFromString(line);
    reply.tasklib = { command: c.command, properties: c.properties, message: c.message };
  } catch (e) {
    reply.tasklibError = e.message;
  }
  reply.agent = agentParse(line, true);
  process.stdout.write(JSON.stringify(reply) + '\n');
});
