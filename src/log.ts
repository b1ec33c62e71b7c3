// pino JSON logs; every line carries the component, and children add their context.
import { pino, type Logger } from 'pino';
import { OPERATOR_NAME } from './conventions.ts';

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', component = OPERATOR_NAME): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}
