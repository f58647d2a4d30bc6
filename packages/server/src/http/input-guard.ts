// Input that no schema keyword can refuse but the database or the JSON code would fail on with a
// 500: U+0000 (PostgreSQL text and jsonb cannot hold it) anywhere in the path, query or body, and
// JSON nested deeper than any real document (JSON.stringify, ajv and jsonb input all recurse per
// level and overflow the stack on ~10^5 levels), and numbers too large to be exact. Checked after
// authentication, the route's own checks and schema validation, before the handler.
import type { FastifyRequest } from 'fastify';
import { invalidInput } from '../errors.js';
import { inputProblem } from '../input-problem.js';

export function assertSafeInput(req: FastifyRequest): void {
  const problem = inputProblem('path', req.params) ?? inputProblem('query', req.query) ?? inputProblem('body', req.body);
  if (problem) throw invalidInput(problem);
}
