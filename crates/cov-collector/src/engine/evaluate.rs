//! Evaluating counters: the order of a function's counter expressions (operands first,
//! fixed when the function is loaded), and turning a counter array into [`Counts`], the
//! value of every region and branch of every function llvm-cov shows.

use std::ops::Range;

use super::{Engine, FileId, slice};
use crate::decode::mapping::{Counter, Expression, ExpressionKind, MappingRegion, RegionKind};

/// Every function's evaluated counts for one counter array ([`Engine::evaluate`] or
/// [`Engine::evaluate_files`]): what every query of the engine reads.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// False when llvm-cov would leave the function out for these counts, or when the
    /// function was not evaluated.
    shown: Vec<bool>,
    regions: Vec<u64>,
    branches: Vec<(u64, u64)>,
}

impl Counts {
    /// Whether the function was evaluated and llvm-cov shows it for these counts. Counts
    /// that do not include a function (see [`Engine::evaluate_files`]) leave it out rather
    /// than fail.
    pub(super) fn is_shown(&self, function_idx: u32) -> bool {
        self.shown
            .get(function_idx as usize)
            .copied()
            .unwrap_or(false)
    }

    /// The count of region `region_idx` (0 when not evaluated).
    pub(super) fn region(&self, region_idx: u32) -> u64 {
        self.regions.get(region_idx as usize).copied().unwrap_or(0)
    }

    /// The true and false counts of branch region `region_idx` ((0, 0) when not
    /// evaluated).
    pub(super) fn branch(&self, region_idx: u32) -> (u64, u64) {
        self.branches
            .get(region_idx as usize)
            .copied()
            .unwrap_or((0, 0))
    }

    /// The counts of a function's regions (empty when not evaluated).
    pub(super) fn regions_of(&self, range: &Range<u32>) -> &[u64] {
        self.regions
            .get(range.start as usize..range.end as usize)
            .unwrap_or(&[])
    }

    /// The counts of a function's branch regions (empty when not evaluated).
    pub(super) fn branches_of(&self, range: &Range<u32>) -> &[(u64, u64)] {
        self.branches
            .get(range.start as usize..range.end as usize)
            .unwrap_or(&[])
    }
}

/// The expression values of the function being evaluated, reused from one to the next.
type ExpressionValues = Vec<i64>;

impl Engine {
    /// Evaluates every function against `counters` (indexed like `__llvm_prf_cnts`), for
    /// reading any number of files off the result.
    pub fn evaluate(&self, counters: &[u64]) -> Counts {
        let mut counts = self.empty_counts();
        let mut values = ExpressionValues::new();
        for function_idx in 0..self.functions.len() as u32 {
            self.evaluate_function(function_idx, counters, &mut values, &mut counts);
        }
        counts
    }

    /// Evaluates the functions of `files` only (each once), for reading those files off
    /// the result: what a snapshot of a few files needs, with one set of buffers for all
    /// of them. The queries answer for other files as if none of their functions was
    /// shown.
    pub fn evaluate_files(&self, files: &[FileId], counters: &[u64]) -> Counts {
        if files.is_empty() {
            // Nothing to read off: no buffers either (an idle snapshot's common case).
            return Counts::default();
        }
        let mut counts = self.empty_counts();
        let mut evaluated = vec![false; self.functions.len()];
        let mut values = ExpressionValues::new();
        for plan in files.iter().filter_map(|file| self.plans.get(file.index())) {
            for &function_idx in &plan.functions {
                if !std::mem::replace(&mut evaluated[function_idx as usize], true) {
                    self.evaluate_function(function_idx, counters, &mut values, &mut counts);
                }
            }
        }
        counts
    }

    /// Counts with room for every function and nothing evaluated.
    fn empty_counts(&self) -> Counts {
        Counts {
            shown: vec![false; self.functions.len()],
            regions: vec![0; self.regions.len()],
            branches: vec![(0, 0); self.branch_regions.len()],
        }
    }

    /// Evaluates one function's regions and branch regions into `counts`, and whether
    /// llvm-cov shows it for these counters (a placeholder whose function ran is not).
    fn evaluate_function(
        &self,
        function_idx: u32,
        counters: &[u64],
        values: &mut ExpressionValues,
        counts: &mut Counts,
    ) {
        let function = &self.functions[function_idx as usize];
        let shown = self.is_shown(function, counters);
        counts.shown[function_idx as usize] = shown;
        if !shown {
            return;
        }
        // Without the name in the profile, llvm-cov's counts are all zero.
        let present = self.name_present(function, counters);
        let counter_value = |id: u32| -> u64 {
            if present {
                self.counter_value(function, counters, id)
            } else {
                0
            }
        };
        let expressions = slice(&self.expressions, &function.expressions);
        values.clear();
        values.resize(expressions.len(), 0);
        for &index in slice(&self.expression_order, &function.expression_order) {
            let expression = expressions[index as usize];
            let value_of = |counter: Counter, values: &[i64]| -> i64 {
                match counter {
                    Counter::Zero => 0,
                    Counter::Counter(id) => counter_value(id) as i64,
                    Counter::Expression(id) => values[id as usize],
                }
            };
            let lhs = value_of(expression.lhs, values);
            let rhs = value_of(expression.rhs, values);
            values[index as usize] = match expression.kind {
                ExpressionKind::Add => lhs.wrapping_add(rhs),
                ExpressionKind::Subtract => lhs.wrapping_sub(rhs),
            };
        }
        let evaluate = |counter: Counter| -> u64 {
            match counter {
                Counter::Zero => 0,
                Counter::Counter(id) => counter_value(id),
                Counter::Expression(id) => values[id as usize] as u64,
            }
        };
        for (slot, region) in counts.regions
            [function.regions.start as usize..function.regions.end as usize]
            .iter_mut()
            .zip(slice(&self.regions, &function.regions))
        {
            *slot = evaluate(region.count);
        }
        for (slot, region) in counts.branches
            [function.branch_regions.start as usize..function.branch_regions.end as usize]
            .iter_mut()
            .zip(slice(&self.branch_regions, &function.branch_regions))
        {
            *slot = (evaluate(region.count), evaluate(region.false_count));
        }
    }
}

/// Buffers of [`expression_order`], reused from one function to the next.
#[derive(Default)]
pub(super) struct OrderScratch {
    /// The order found: expression indices, operands first.
    pub(super) order: Vec<u32>,
    states: Vec<VisitState>,
    stack: Vec<(u32, bool)>,
}

#[derive(Clone, Copy, PartialEq)]
enum VisitState {
    New,
    Visiting,
    Done,
}

/// Finds an evaluation order for the expressions reachable from the regions' counters,
/// with operands before the expressions using them, into `scratch.order`; false when
/// expressions form a cycle, which llvm-cov cannot evaluate either.
pub(super) fn expression_order(
    expressions: &[Expression],
    regions: &[MappingRegion],
    scratch: &mut OrderScratch,
) -> bool {
    let OrderScratch {
        states: state,
        stack,
        order,
    } = scratch;
    order.clear();
    state.clear();
    state.resize(expressions.len(), VisitState::New);
    for region in regions
        .iter()
        .filter(|region| region.kind != RegionKind::McdcDecision)
    {
        for root in [region.count, region.false_count] {
            let Counter::Expression(root) = root else {
                continue;
            };
            // Iterative depth-first post-order.
            stack.clear();
            stack.push((root, false));
            while let Some((index, operands_done)) = stack.pop() {
                let Some(&slot) = state.get(index as usize) else {
                    return false;
                };
                if operands_done {
                    state[index as usize] = VisitState::Done;
                    order.push(index);
                    continue;
                }
                match slot {
                    VisitState::Done => continue,
                    VisitState::Visiting => return false,
                    VisitState::New => {}
                }
                state[index as usize] = VisitState::Visiting;
                stack.push((index, true));
                let expression = expressions[index as usize];
                for operand in [expression.rhs, expression.lhs] {
                    if let Counter::Expression(operand) = operand {
                        match state.get(operand as usize) {
                            None | Some(VisitState::Visiting) => return false,
                            Some(VisitState::Done) => {}
                            Some(VisitState::New) => stack.push((operand, false)),
                        }
                    }
                }
            }
        }
    }
    true
}

/// The largest counter id the regions' true and false counters reach (what llvm-cov
/// evaluates), `Some(None)` when they use no counter, `None` on a cycle. `memo` is reused
/// from one function to the next.
pub(super) fn max_used_counter(
    expressions: &[Expression],
    regions: &[MappingRegion],
    memo: &mut Vec<Option<Option<u32>>>,
) -> Option<Option<u32>> {
    memo.clear();
    memo.resize(expressions.len(), None);
    let mut max: Option<u32> = None;
    for region in regions
        .iter()
        .filter(|region| region.kind != RegionKind::McdcDecision)
    {
        for counter in [region.count, region.false_count] {
            max = max.max(max_counter_of(counter, expressions, memo, 0)?);
        }
    }
    Some(max)
}

/// The largest counter id `counter` reaches, memoized per expression; `None` on a cycle.
fn max_counter_of(
    counter: Counter,
    expressions: &[Expression],
    memo: &mut [Option<Option<u32>>],
    depth: usize,
) -> Option<Option<u32>> {
    match counter {
        Counter::Zero => Some(None),
        Counter::Counter(id) => Some(Some(id)),
        Counter::Expression(id) => {
            let expression = expressions.get(id as usize)?;
            if let Some(known) = memo[id as usize] {
                return Some(known);
            }
            // Deeper than the number of expressions means a cycle.
            if depth > expressions.len() {
                return None;
            }
            let value = max_counter_of(expression.lhs, expressions, memo, depth + 1)?.max(
                max_counter_of(expression.rhs, expressions, memo, depth + 1)?,
            );
            memo[id as usize] = Some(value);
            Some(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_region(count: Counter) -> MappingRegion {
        MappingRegion {
            kind: RegionKind::Code,
            count,
            false_count: Counter::Zero,
            file_id: 0,
            expanded_file_id: 0,
            line_start: 1,
            column_start: 1,
            line_end: 2,
            column_end: 2,
        }
    }

    fn expression(kind: ExpressionKind, lhs: Counter, rhs: Counter) -> Expression {
        Expression { kind, lhs, rhs }
    }

    fn order_of(expressions: &[Expression], regions: &[MappingRegion]) -> Option<Vec<u32>> {
        let mut scratch = OrderScratch::default();
        expression_order(expressions, regions, &mut scratch).then_some(scratch.order)
    }

    #[test]
    fn expressions_are_ordered_operands_first() {
        let expressions = vec![
            expression(
                ExpressionKind::Subtract,
                Counter::Expression(1),
                Counter::Counter(1),
            ),
            expression(
                ExpressionKind::Add,
                Counter::Counter(0),
                Counter::Counter(2),
            ),
        ];
        let regions = [code_region(Counter::Expression(0))];
        assert_eq!(order_of(&expressions, &regions), Some(vec![1, 0]));
        assert_eq!(
            max_used_counter(&expressions, &regions, &mut Vec::new()),
            Some(Some(2))
        );
        assert_eq!(
            max_used_counter(&expressions, &[code_region(Counter::Zero)], &mut Vec::new()),
            Some(None)
        );
    }

    #[test]
    fn cyclic_expressions_cannot_be_evaluated() {
        let expressions = vec![
            expression(
                ExpressionKind::Add,
                Counter::Expression(1),
                Counter::Counter(0),
            ),
            expression(
                ExpressionKind::Add,
                Counter::Expression(0),
                Counter::Counter(0),
            ),
        ];
        let regions = [code_region(Counter::Expression(0))];
        assert_eq!(order_of(&expressions, &regions), None);
        assert_eq!(
            max_used_counter(&expressions, &regions, &mut Vec::new()),
            None
        );
    }
}
