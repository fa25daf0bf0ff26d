"""Generated from ``nondecoupling.derivations.s1_spectral_concentration`` (S1) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
import math
from numpy import equal, nan, select, sqrt


def curvature_lower(eig_k, rho):
    """S1 (a): lam_k rho_k <= g^T H g / ||g||^2."""
    return eig_k*rho


def curvature_lower_scalar(eig_k, rho):
    """S1 (a): lam_k rho_k <= g^T H g / ||g||^2. (Python floats, math)"""
    return eig_k*rho


def curvature_upper(eig_top, eig_next, rho):
    """S1 (a): g^T H g / ||g||^2 <= lam_1 rho_k + lam_{k+1} (1 - rho_k)."""
    return eig_next*(1 - rho) + eig_top*rho


def curvature_upper_scalar(eig_top, eig_next, rho):
    """S1 (a): g^T H g / ||g||^2 <= lam_1 rho_k + lam_{k+1} (1 - rho_k). (Python floats, math)"""
    return eig_next*(1 - rho) + eig_top*rho


def misalignment_lower(eig_top, eig_k, eig_next, rho):
    """S1 (b): m >= lam_k rho_k / sqrt(lam_1^2 rho_k + lam_{k+1}^2 (1 - rho_k)) (0 where 0/0)."""
    return select([equal(sqrt(eig_next**2*(1 - rho) + eig_top**2*rho), 0),True], [0,eig_k*rho/sqrt(eig_next**2*(1 - rho) + eig_top**2*rho)], default=nan)


def misalignment_lower_scalar(eig_top, eig_k, eig_next, rho):
    """S1 (b): m >= lam_k rho_k / sqrt(lam_1^2 rho_k + lam_{k+1}^2 (1 - rho_k)) (0 where 0/0). (Python floats, math)"""
    return ((0) if (math.sqrt(eig_next**2*(1 - rho) + eig_top**2*rho) == 0) else (eig_k*rho/math.sqrt(eig_next**2*(1 - rho) + eig_top**2*rho)))


def kantorovich(m_lo, m_hi):
    """S1 (c): m >= 2 sqrt(m_lo m_hi) / (m_lo + m_hi)."""
    return 2*(sqrt(m_lo)/sqrt(m_hi))*(1 + (sqrt(m_lo)/sqrt(m_hi))**2)**(-1.0)


def kantorovich_scalar(m_lo, m_hi):
    """S1 (c): m >= 2 sqrt(m_lo m_hi) / (m_lo + m_hi). (Python floats, math)"""
    return 2*(math.sqrt(m_lo)/math.sqrt(m_hi))*(1 + (math.sqrt(m_lo)/math.sqrt(m_hi))**2)**(-1)
