import {
  type ASTVisitor,
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';

/** What one GraphQL document may ask for: a request past these is refused before it runs. */
export interface QueryLimits {
  /** Nested selections, the operation's own fields at depth 1. */
  maxDepth: number;
  /** Fields asked under another name (`a: tasks`): each is resolved again. */
  maxAliases: number;
  /** Fields selected in all, fragments expanded: the request's cost. */
  maxFields: number;
}

export const DEFAULT_LIMITS: QueryLimits = { maxDepth: 10, maxAliases: 30, maxFields: 500 };

/** Request bodies above this are answered 413. */
export const MAX_BODY_BYTES = 1 << 20;

/**
 * A validation rule (Apollo's `validationRules`, graphql-ws's `validate`) that walks each operation
 * with its fragments expanded and refuses it, with BAD_INPUT and the figure, when it is deeper,
 * has more aliases or selects more fields than the limits: one request cannot make the gateway
 * resolve `tasks { events metrics }` three thousand times.
 */
export function queryLimitsRule(limits: QueryLimits = DEFAULT_LIMITS) {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(op) {
      let fields = 0;
      let aliases = 0;
      let deepest = 0;
      let over: string | undefined;
      const walk = (set: SelectionSetNode, depth: number, seen: Set<string>): void => {
        for (const sel of set.selections) {
          if (over) return;
          if (sel.kind === Kind.FIELD) {
            fields++;
            if (sel.alias) aliases++;
            deepest = Math.max(deepest, depth);
            if (depth > limits.maxDepth) over = `it nests ${depth} levels deep (at most ${limits.maxDepth})`;
            else if (aliases > limits.maxAliases)
              over = `it has more than ${limits.maxAliases} aliased fields`;
            else if (fields > limits.maxFields)
              over = `it selects more than ${limits.maxFields} fields (fragments counted where used)`;
            if (sel.selectionSet) walk(sel.selectionSet, depth + 1, seen);
          } else if (sel.kind === Kind.INLINE_FRAGMENT) walk(sel.selectionSet, depth, seen);
          else {
            const name = sel.name.value;
            if (seen.has(name)) continue; // a cycle: graphql's own rule reports it
            const frag: FragmentDefinitionNode | null | undefined = context.getFragment(name);
            if (frag) walk(frag.selectionSet, depth, new Set([...seen, name]));
          }
        }
      };
      walk(op.selectionSet, 1, new Set());
      if (over)
        context.reportError(
          new GraphQLError(`the request is refused: ${over}. Ask for less in one request`, {
            nodes: [op],
            extensions: { code: 'BAD_INPUT', fields, aliases, depth: deepest },
          }),
        );
    },
  });
}
