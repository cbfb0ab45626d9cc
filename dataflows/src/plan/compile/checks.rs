//! Static checks on expressions, with the TCK's error categories: what the compiler knows of
//! an expression's type ([`Ty`]) and the operand, property-access, indexing and percentile
//! checks built on it.

use super::{Builder, Result};
use crate::cypher::ast::{self, BinaryOp, ExprKind, UnaryOp};
use crate::cypher::{CypherError, ErrorDetail, ErrorKind};
use crate::plan::types::Ty;
use crate::value::Value;

impl Builder<'_> {
    /// What the compiler knows of an expression's type (see `plan::types`): later patterns and
    /// operators check it.
    pub(super) fn static_type(&self, e: &ast::Expr) -> Ty {
        match &e.kind {
            ExprKind::Literal(l) => Ty::of_literal(l),
            ExprKind::Variable(name) => self.scope.lookup(name).map_or(Ty::Any, |(_, ty)| ty),
            ExprKind::Parameter(name) => self.parameters.get(&**name).map_or(Ty::Any, Ty::of_value),
            ExprKind::List(_) | ExprKind::ListComprehension { .. } => Ty::List,
            ExprKind::Map(_) => Ty::Map,
            ExprKind::Unary(UnaryOp::Not, _)
            | ExprKind::Binary(
                BinaryOp::And
                | BinaryOp::Or
                | BinaryOp::Xor
                | BinaryOp::In
                | BinaryOp::StartsWith
                | BinaryOp::EndsWith
                | BinaryOp::Contains,
                ..,
            )
            | ExprKind::Comparison(..)
            | ExprKind::IsNull(..)
            | ExprKind::HasLabels(..)
            | ExprKind::Quantified { .. } => Ty::Bool,
            ExprKind::CountStar => Ty::Int,
            _ => Ty::Any,
        }
    }

    /// Rejects an operand whose static type can never be one of `allowed`.
    pub(super) fn check_operand(&self, e: &ast::Expr, allowed: &[Ty], what: &str) -> Result<()> {
        let ty = self.static_type(e);
        if ty.may_be(allowed) {
            return Ok(());
        }
        let expected: Vec<&str> = allowed.iter().map(|t| t.name()).collect();
        Err(CypherError::semantic(
            ErrorDetail::InvalidArgumentType,
            format!(
                "{what} expects {}, got {} `{}`",
                expected.join(" or "),
                ty.name(),
                self.source(e.span)
            ),
            e.span,
        ))
    }

    /// Property access needs a map, node or relationship: on a path it is a syntax error in
    /// openCypher, on another value a type error.
    pub(super) fn check_property_base(&self, base: &ast::Expr, key: &ast::Ident) -> Result<()> {
        let allowed = [Ty::Map, Ty::Node, Ty::Relationship];
        let ty = self.static_type(base);
        if ty.may_be(&allowed) {
            return Ok(());
        }
        let message = format!(
            "cannot read property `{}` of {} `{}`",
            key.name,
            ty.name(),
            self.source(base.span)
        );
        Err(match ty {
            Ty::Path => CypherError::semantic(ErrorDetail::InvalidArgumentType, message, key.span),
            _ => CypherError::type_error(message, key.span),
        })
    }

    /// Indexing needs a list (by integer) or a map, node or relationship (by string).
    pub(super) fn check_index(&self, base: &ast::Expr, index: &ast::Expr) -> Result<()> {
        let (base_ty, index_ty) = (self.static_type(base), self.static_type(index));
        let (fine, detail) = match base_ty {
            Ty::Any | Ty::Null => (true, ErrorDetail::InvalidArgumentType),
            Ty::List => (index_ty.may_be(&[Ty::Int]), ErrorDetail::InvalidArgumentType),
            Ty::Map | Ty::Node | Ty::Relationship => {
                (index_ty.may_be(&[Ty::Str]), ErrorDetail::MapElementAccessByNonString)
            }
            _ => (false, ErrorDetail::InvalidArgumentType),
        };
        if fine {
            return Ok(());
        }
        Err(CypherError::type_error(
            format!(
                "cannot index {} `{}` with {} `{}`",
                base_ty.name(),
                self.source(base.span),
                index_ty.name(),
                self.source(index.span)
            ),
            index.span,
        )
        .with_detail(detail))
    }

    /// The percentile argument of `percentileCont` / `percentileDisc`: a constant number
    /// between 0 and 1 (a continuous query's parameters are constants too).
    pub(super) fn percentile(&self, e: &ast::Expr) -> Result<f64> {
        let constant = match &e.kind {
            ExprKind::Literal(_) | ExprKind::Parameter(_) => true,
            ExprKind::Unary(UnaryOp::Neg | UnaryOp::Plus, x) => {
                matches!(x.kind, ExprKind::Literal(_) | ExprKind::Parameter(_))
            }
            _ => false,
        };
        if !constant {
            return Err(CypherError::semantic(
                ErrorDetail::NonConstantExpression,
                "the percentile must be a constant (a number or a parameter)",
                e.span,
            ));
        }
        let value = self.expr(e, None)?.eval(&[]).ok();
        let number = match value {
            Some(Value::Int(i)) => i as f64,
            Some(Value::Float(f)) => f.0,
            _ => {
                return Err(CypherError::semantic(
                    ErrorDetail::InvalidArgumentType,
                    format!("the percentile must be a number, got `{}`", self.source(e.span)),
                    e.span,
                ))
            }
        };
        if !(0.0..=1.0).contains(&number) {
            return Err(CypherError {
                kind: ErrorKind::Argument,
                detail: Some(ErrorDetail::NumberOutOfRange),
                message: format!("the percentile must be between 0.0 and 1.0, got {number}"),
                span: e.span,
            });
        }
        Ok(number)
    }

    /// Boolean operators take booleans; `IN` takes a list on its right.
    pub(super) fn check_binary_operands(
        &self,
        op: BinaryOp,
        l: &ast::Expr,
        r: &ast::Expr,
    ) -> Result<()> {
        match op {
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
                let name = match op {
                    BinaryOp::And => "AND",
                    BinaryOp::Or => "OR",
                    _ => "XOR",
                };
                self.check_operand(l, &[Ty::Bool], name)?;
                self.check_operand(r, &[Ty::Bool], name)
            }
            BinaryOp::In => self.check_operand(r, &[Ty::List], "IN"),
            _ => Ok(()),
        }
    }
}
